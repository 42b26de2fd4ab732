// jest + miniprogram-simulate: pages render under jsdom ("window is not defined" without it).
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/test'],
  setupFilesAfterEnv: ['<rootDir>/test/support/setup.js'],
  reporters: ['default', '<rootDir>/test/support/plain-summary.js'],
}
