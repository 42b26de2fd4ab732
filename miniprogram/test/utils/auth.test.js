const auth = require('../../utils/auth')
const { fakeServer, signedInAs } = require('../support/server')

const RESIDENT = { kind: 'resident', id: 3, name: '张伟', role: 'resident', phone: '138****1234' }

test('first sign-in sends the wx.login code and the phone code, and keeps the session', async () => {
  const server = fakeServer({ 'POST /api/v1/auth/miniapp': { token: 'tok', expires_in: 7200, user: RESIDENT } })
  await expect(auth.signIn('phone-code-1')).resolves.toEqual(RESIDENT)
  expect(server.calls[0].data).toEqual({ code: 'login-code', phone_code: 'phone-code-1' })
  expect(server.calls[0].header.Authorization).toBeUndefined()
  expect([auth.getToken(), auth.currentUser()]).toEqual(['tok', RESIDENT])
})

test('an already signed-in person is not signed in again', async () => {
  signedInAs(RESIDENT)
  const server = fakeServer({})
  await expect(auth.ensureSignedIn()).resolves.toEqual(RESIDENT)
  expect(server.calls).toHaveLength(0)
})

test('a refused login code surfaces the server message', async () => {
  fakeServer({ 'POST /api/v1/auth/miniapp': [400, { error: { code: 'bad_code', message: 'the login code is invalid or already used' } }] })
  await expect(auth.ensureSignedIn()).rejects.toMatchObject({ code: 'bad_code' })
})

test('wx.login failing is reported as offline', async () => {
  wx.login.mockImplementation((options) => options.fail({ errMsg: 'login:fail' }))
  await expect(auth.signIn()).rejects.toMatchObject({ kind: 'offline' })
})

test('only leads and managers count as leads', () => {
  expect(auth.isLead({ kind: 'staff', role: 'lead' })).toBe(true)
  expect(auth.isLead({ kind: 'staff', role: 'manager' })).toBe(true)
  expect(auth.isLead({ kind: 'staff', role: 'staff' })).toBe(false)
  expect(auth.isLead({ kind: 'resident', role: 'resident' })).toBe(false)
})
