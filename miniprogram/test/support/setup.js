// A fresh fake `wx` for every test: storage in memory, every API a jest.fn to assert on.
// Network calls answer through test/support/server.js; the rest succeed unless a test says not.
const storage = new Map()

function makeWx() {
  return {
    request: jest.fn(),
    uploadFile: jest.fn(),
    downloadFile: jest.fn(),
    login: jest.fn((options) => options.success({ code: 'login-code' })),
    getLocation: jest.fn((options) => options.success({ latitude: 30.2891, longitude: 120.1212, accuracy: 15 })),
    chooseMedia: jest.fn((options) => options.success({ tempFiles: [{ tempFilePath: 'wxfile://photo-1.jpg' }] })),
    chooseLocation: jest.fn((options) => options.success({ name: '5号楼大堂', address: '文一路1号' })),
    requestSubscribeMessage: jest.fn((options) => {
      const answers = { errMsg: 'requestSubscribeMessage:ok' }
      options.tmplIds.forEach((id) => { answers[id] = 'accept' })
      options.success(answers)
    }),
    showToast: jest.fn(),
    showModal: jest.fn((options) => options.success && options.success({ confirm: true, content: '' })),
    previewImage: jest.fn(),
    navigateTo: jest.fn(),
    redirectTo: jest.fn(),
    navigateBack: jest.fn(),
    setNavigationBarTitle: jest.fn(),
    stopPullDownRefresh: jest.fn(),
    getStorageSync: jest.fn((key) => (storage.has(key) ? storage.get(key) : '')),
    setStorageSync: jest.fn((key, value) => storage.set(key, value)),
    removeStorageSync: jest.fn((key) => storage.delete(key)),
  }
}

beforeEach(() => {
  storage.clear()
  global.wx = makeWx()
})
