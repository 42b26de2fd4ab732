// Who is using the mini-program: wx.login -> POST /api/v1/auth/miniapp -> our token, kept in
// storage. The server keeps WeChat's session_key; a login code is single use, so every sign-in
// (and every refresh after a 401) asks wx.login for a new one.
const api = require('./api')

const TOKEN_KEY = 'wuye.token'
const USER_KEY = 'wuye.user'
const LEAD_ROLES = ['lead', 'manager']

let refreshing = null

function getToken() {
  return wx.getStorageSync(TOKEN_KEY) || ''
}

function currentUser() {
  return wx.getStorageSync(USER_KEY) || null
}

// Keep what the server answered: sign-in, and binding/unbinding (they return a fresh token).
function saveSession(answer) {
  wx.setStorageSync(TOKEN_KEY, answer.token)
  wx.setStorageSync(USER_KEY, answer.user)
  return answer.user
}

function clearSession() {
  wx.removeStorageSync(TOKEN_KEY)
  wx.removeStorageSync(USER_KEY)
}

function wxLogin() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res.code ? resolve(res.code) : reject(new api.ApiError('refused', '微信登录失败，请重试'))),
      fail: () => reject(new api.ApiError('offline', api.OFFLINE_MESSAGE)),
    })
  })
}

// phoneCode comes from <button open-type="getPhoneNumber">: the first sign-in of a person the
// roster knows by phone links this WeChat account to them; later sign-ins need only the code.
async function signIn(phoneCode) {
  const data = { code: await wxLogin() }
  if (phoneCode) data.phone_code = phoneCode
  return saveSession(await api.call('signIn', { data }))
}

// One sign-in however many calls got a 401 at the same time.
function refresh() {
  if (!refreshing) {
    refreshing = signIn().finally(() => {
      refreshing = null
    })
  }
  return refreshing
}

async function ensureSignedIn() {
  const user = currentUser()
  return getToken() && user ? user : signIn()
}

function isLead(user) {
  return Boolean(user && user.kind === 'staff' && LEAD_ROLES.includes(user.role))
}

module.exports = { getToken, currentUser, saveSession, clearSession, signIn, refresh, ensureSignedIn, isLead }
