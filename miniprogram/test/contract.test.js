// The contract: every API call the mini-program makes exists in the server's /openapi.json with
// the same method, path parameters and body fields, and the roles using it may call it.
// test/openapi.json is a committed snapshot; tests/integration/test_openapi_snapshot.py fails
// when it differs from the server (regenerate: .venv/bin/python tools/dump_openapi.py).
const fs = require('fs')
const path = require('path')
const { ENDPOINTS } = require('../utils/api')
const { CATEGORIES } = require('../utils/tasks')
const openapi = require('./openapi.json')

const ROOT = path.resolve(__dirname, '..')
const ENTRIES = Object.entries(ENDPOINTS)
const STAFF_ROLES = ['staff', 'lead', 'manager', 'assessor', 'billing', 'data_admin', 'customer_service']

function operation(ep) {
  return (openapi.paths[ep.path] || {})[ep.method.toLowerCase()]
}

function jsonSchema(op) {
  return op.requestBody ? op.requestBody.content['application/json'].schema : null
}

function sources(dir) {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name)
    if (entry.isDirectory()) return sources(rel)
    return rel.endsWith('.js') ? [rel] : []
  })
}

// Endpoint names a file calls: api.call('name', ...)
function callsIn(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8')
  return [...text.matchAll(/api\.call\('(\w+)'/g)].map((match) => match[1])
}

const CLIENT_FILES = ['app.js', ...sources('pages'), ...sources('components'), ...sources('utils')]

test.each(ENTRIES)('%s: the server has this method and path', (name, ep) => {
  expect(operation(ep)).toBeDefined()
})

test.each(ENTRIES)('%s: path parameters are named as the server names them', (name, ep) => {
  const ours = [...ep.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort()
  const theirs = operation(ep).parameters.filter((p) => p.in === 'path').map((p) => p.name).sort()
  expect(ours).toEqual(theirs)
})

test.each(ENTRIES.filter(([, ep]) => ep.body))('%s: sends only described fields, and all required ones', (name, ep) => {
  const schema = jsonSchema(operation(ep))
  expect(schema).not.toBeNull()
  expect(ep.body.filter((field) => !(field in schema.properties))).toEqual([])
  expect((schema.required || []).filter((field) => !ep.body.includes(field))).toEqual([])
})

test.each(ENTRIES.filter(([, ep]) => !ep.body))('%s: needs no JSON body from us', (name, ep) => {
  const schema = jsonSchema(operation(ep))
  expect((schema && schema.required) || []).toEqual([])
})

test('only sign-in goes without a token, as the server says', () => {
  const open = ENTRIES.filter(([, ep]) => ep.public).map(([name]) => name)
  const serverOpen = ENTRIES.filter(([, ep]) => operation(ep)['x-allow'] === 'public').map(([name]) => name)
  expect(open).toEqual(serverOpen)
})

function allows(ep, roles) {
  const allow = operation(ep)['x-allow']
  return allow === 'signed_in' || allow === 'public' || roles.some((role) => allow.includes(role))
}

test.each([
  ['pages/resident', ['resident']],
  ['pages/resident/bind', ['guest']],
  ['pages/staff', STAFF_ROLES],
])('every call in %s is allowed for %j', (dir, roles) => {
  const refused = sources(dir).flatMap(callsIn).filter((name) => !allows(ENDPOINTS[name], roles))
  expect(refused).toEqual([])
})

test('every call the client makes names a listed endpoint', () => {
  const unknown = CLIENT_FILES.flatMap(callsIn).filter((name) => !(name in ENDPOINTS))
  expect(unknown).toEqual([])
})

test('every listed endpoint is used by the client', () => {
  const used = new Set(CLIENT_FILES.flatMap(callsIn))
  expect(Object.keys(ENDPOINTS).filter((name) => !used.has(name))).toEqual([])
})

test('only utils/api.js talks to the network', () => {
  const network = /wx\.(request|uploadFile|downloadFile)\(/
  const talkers = CLIENT_FILES.filter((file) => network.test(fs.readFileSync(path.join(ROOT, file), 'utf8')))
  expect(talkers).toEqual([path.join('utils', 'api.js')])
})

test('the report form offers exactly the server\'s task categories', () => {
  const schema = jsonSchema(operation(ENDPOINTS.createTask))
  expect(CATEGORIES.map((c) => c.code).sort()).toEqual([...schema.properties.category.enum].sort())
})
