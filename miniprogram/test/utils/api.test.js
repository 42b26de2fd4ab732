const api = require('../../utils/api')
const { fakeServer, signedInAs } = require('../support/server')

const STAFF = { kind: 'staff', id: 7, name: '王强', role: 'staff' }

test('sends the stored token as a bearer header and resolves with the JSON body', async () => {
  signedInAs(STAFF, 'tok-A')
  const server = fakeServer({ 'GET /api/v1/me/rooms': { items: [] } })
  await expect(api.call('myRooms')).resolves.toEqual({ items: [] })
  expect(server.calls[0].header.Authorization).toBe('Bearer tok-A')
})

test('fills path parameters, escaped', async () => {
  signedInAs(STAFF)
  const server = fakeServer({ 'POST /api/v1/tasks/T%2F1/accept': { ref: 'T/1' } })
  await api.call('accept', { params: { ref: 'T/1' } })
  expect(server.calls).toHaveLength(1)
})

test('offline: a request that never reaches the server says to check the network', async () => {
  signedInAs(STAFF)
  wx.request.mockImplementation((options) => options.fail({ errMsg: 'request:fail timeout' }))
  await expect(api.call('myRooms')).rejects.toMatchObject({ kind: 'offline', message: '网络连接失败，请检查网络后重试' })
})

test('refused: a 4xx answer carries the server message and code', async () => {
  signedInAs(STAFF)
  fakeServer({ 'POST /api/v1/tasks/T1/complete': [409, { error: { code: 'needs_photo', message: '完工前请至少上传一张现场照片。' } }] })
  await expect(api.call('complete', { params: { ref: 'T1' }, data: { note: '' } }))
    .rejects.toMatchObject({ kind: 'refused', status: 409, code: 'needs_photo', message: '完工前请至少上传一张现场照片。' })
})

test('a server error shows a generic message, not the server internals', async () => {
  signedInAs(STAFF)
  fakeServer({ 'GET /api/v1/me/rooms': [500, { error: { code: 'internal', message: 'internal error' } }] })
  await expect(api.call('myRooms')).rejects.toMatchObject({ kind: 'server', message: api.SERVER_MESSAGE })
})

test('an expired token signs in again with a new wx.login code and retries once', async () => {
  signedInAs(STAFF, 'old')
  const server = fakeServer({
    'GET /api/v1/me/rooms': (req) => (req.header.Authorization === 'Bearer new' ? { items: [] } : [401, { error: { code: 'unauthorized', message: 'expired' } }]),
    'POST /api/v1/auth/miniapp': { token: 'new', expires_in: 7200, user: STAFF },
  })
  await expect(api.call('myRooms')).resolves.toEqual({ items: [] })
  expect(server.called('POST', '/api/v1/auth/miniapp')[0].data).toEqual({ code: 'login-code' })
  expect(wx.getStorageSync('wuye.token')).toBe('new')
})

test('a 401 after signing in again is given up, not retried forever', async () => {
  signedInAs(STAFF, 'old')
  const server = fakeServer({
    'GET /api/v1/me/rooms': [401, { error: { code: 'unauthorized', message: 'sign in first' } }],
    'POST /api/v1/auth/miniapp': { token: 'new', expires_in: 7200, user: STAFF },
  })
  await expect(api.call('myRooms')).rejects.toMatchObject({ status: 401 })
  expect(server.called('GET', '/api/v1/me/rooms')).toHaveLength(2)
})

test('calls that fail together with 401 share one sign-in', async () => {
  signedInAs(STAFF, 'old')
  const server = fakeServer({
    'GET /api/v1/tasks/T1': (req) => (req.header.Authorization === 'Bearer new' ? {} : [401, {}]),
    'GET /api/v1/me/rooms': (req) => (req.header.Authorization === 'Bearer new' ? { items: [] } : [401, {}]),
    'POST /api/v1/auth/miniapp': { token: 'new', expires_in: 7200, user: STAFF },
  })
  await Promise.all([api.call('getTask', { params: { ref: 'T1' } }), api.call('myRooms')])
  expect(server.called('POST', '/api/v1/auth/miniapp')).toHaveLength(1)
})

test('a body field the endpoint does not declare is refused before anything is sent', async () => {
  signedInAs(STAFF)
  const server = fakeServer({})
  await expect(api.call('complete', { params: { ref: 'T1' }, data: { notes: 'x' } })).rejects.toThrow('undeclared fields notes')
  expect(server.calls).toHaveLength(0)
})

test('photos upload as multipart field "file" and the JSON answer is parsed', async () => {
  signedInAs(STAFF)
  const server = fakeServer({ 'POST /api/v1/tasks/T1/photos': [201, { id: 3, size: 10 }] })
  await expect(api.call('uploadPhoto', { params: { ref: 'T1' }, filePath: 'wxfile://a.jpg' })).resolves.toEqual({ id: 3, size: 10 })
  expect(server.calls[0]).toMatchObject({ name: 'file', filePath: 'wxfile://a.jpg' })
})

test('a photo downloads with the token to a local file', async () => {
  signedInAs(STAFF, 'tok-A')
  const server = fakeServer({ 'GET /api/v1/photos/5': '' })
  await expect(api.call('photo', { params: { photo_id: 5 } })).resolves.toBe('wxfile://downloaded/api/v1/photos/5')
  expect(server.calls[0].header.Authorization).toBe('Bearer tok-A')
})

test('short errors show as a toast, long ones in a modal so nothing is cut off', () => {
  api.showError({ message: '请填写返工原因' })
  expect(wx.showToast).toHaveBeenCalledWith({ title: '请填写返工原因', icon: 'none' })
  api.showError({ message: '您当前不在小区范围内，无法签到，请到现场后再发送位置。' })
  expect(wx.showModal).toHaveBeenCalledWith(expect.objectContaining({ content: '您当前不在小区范围内，无法签到，请到现场后再发送位置。', showCancel: false }))
})
