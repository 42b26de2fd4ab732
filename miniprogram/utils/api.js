// The one module that talks to the server. Every wx.request / wx.uploadFile / wx.downloadFile is
// here, and every call is listed in ENDPOINTS, which test/contract.test.js checks against the
// server's /openapi.json (snapshot: test/openapi.json).
const config = require('../config')

// method, path template, the JSON body fields the client may send; `file` = multipart upload,
// `download` = binary answer, `open` = the body also carries keys named at run time.
const ENDPOINTS = {
  signIn: { method: 'POST', path: '/api/v1/auth/miniapp', body: ['code', 'phone_code'], public: true },
  myRooms: { method: 'GET', path: '/api/v1/me/rooms' },
  bindingCommunities: { method: 'GET', path: '/api/v1/bindings/communities' },
  bind: { method: 'POST', path: '/api/v1/bindings', body: ['community', 'building', 'unit', 'room', 'phone'] },
  unbind: { method: 'DELETE', path: '/api/v1/bindings/{room_id}' },
  listTasks: { method: 'GET', path: '/api/v1/tasks', query: ['scope', 'status'] },
  getTask: { method: 'GET', path: '/api/v1/tasks/{ref}' },
  createTask: {
    method: 'POST',
    path: '/api/v1/tasks',
    body: ['community', 'building', 'unit', 'room', 'place', 'category', 'urgency', 'description', 'visit_time'],
  },
  accept: { method: 'POST', path: '/api/v1/tasks/{ref}/accept' },
  checkIn: { method: 'POST', path: '/api/v1/tasks/{ref}/checkin', body: ['lat', 'lng', 'accuracy'] },
  complete: { method: 'POST', path: '/api/v1/tasks/{ref}/complete', body: ['note'] },
  rate: { method: 'POST', path: '/api/v1/tasks/{ref}/rate', body: ['score', 'comment'] },
  cancel: { method: 'POST', path: '/api/v1/tasks/{ref}/cancel', body: ['reason'] },
  urge: { method: 'POST', path: '/api/v1/tasks/{ref}/urge' },
  instruct: { method: 'POST', path: '/api/v1/tasks/{ref}/instruct', body: ['text'] },
  rework: { method: 'POST', path: '/api/v1/tasks/{ref}/rework', body: ['reason'] },
  uploadPhoto: { method: 'POST', path: '/api/v1/tasks/{ref}/photos', file: 'file' },
  photo: { method: 'GET', path: '/api/v1/photos/{photo_id}', download: true },
  roomFees: { method: 'GET', path: '/api/v1/rooms/{room_id}/fees' },
  myNotices: { method: 'GET', path: '/api/v1/me/notices' },
  myPolls: { method: 'GET', path: '/api/v1/me/polls' },
  getPoll: { method: 'GET', path: '/api/v1/polls/{poll_id}' },
  answerPoll: { method: 'PUT', path: '/api/v1/polls/{poll_id}/answers', body: ['answers'] },
  // wx.requestSubscribeMessage's answer as it comes: {errMsg, <template id>: 'accept' | ...}
  reportSubscriptions: { method: 'POST', path: '/api/v1/notify/subscriptions', body: ['errMsg'], open: true },
}

const OFFLINE_MESSAGE = '网络连接失败，请检查网络后重试'
const SERVER_MESSAGE = '服务暂时不可用，请稍后再试'
const TOAST_MAX_CHARS = 14 // a toast without icon shows about two short lines; longer goes in a modal

class ApiError extends Error {
  // kind: 'offline' (never reached the server), 'refused' (4xx), 'server' (5xx)
  constructor(kind, message, status, code) {
    super(message)
    this.kind = kind
    this.status = status || 0
    this.code = code || kind
  }
}

function endpoint(name) {
  const ep = ENDPOINTS[name]
  if (!ep) throw new Error(`unknown endpoint ${name}`)
  return ep
}

function urlFor(ep, params, query) {
  const path = ep.path.replace(/\{(\w+)\}/g, (_, key) => {
    if (params[key] === undefined) throw new Error(`${ep.path}: missing ${key}`)
    return encodeURIComponent(params[key])
  })
  const pairs = Object.keys(query)
    .filter((key) => query[key] !== undefined && query[key] !== '')
    .map((key) => `${key}=${encodeURIComponent(query[key])}`)
  return config.baseUrl + path + (pairs.length ? `?${pairs.join('&')}` : '')
}

function checkFields(name, ep, options) {
  // Only declared fields leave the client, so the contract test covers everything we send.
  const undeclared = (given, declared) => Object.keys(given || {}).filter((key) => !(declared || []).includes(key))
  const extra = ep.open ? [] : undeclared(options.data, ep.body)
  extra.push(...undeclared(options.query, ep.query))
  if (extra.length) throw new Error(`${name}: undeclared fields ${extra.join(', ')}`)
}

function headers(ep) {
  const token = require('./auth').getToken() // required late: auth.js requires this module
  return token && !ep.public ? { Authorization: `Bearer ${token}` } : {}
}

function offline(err) {
  // wx reports "request:fail ..." (also uploadFile/downloadFile:fail) when nothing came back.
  const error = new ApiError('offline', OFFLINE_MESSAGE)
  error.detail = err && err.errMsg
  return error
}

function refusal(status, body) {
  if (status >= 500) return new ApiError('server', SERVER_MESSAGE, status, 'server')
  const error = (body && body.error) || {}
  return new ApiError('refused', error.message || `请求未被接受（${status}）`, status, error.code)
}

function parse(text) {
  // wx.uploadFile answers the body as a string
  if (typeof text !== 'string') return text
  try {
    return JSON.parse(text)
  } catch (err) {
    return {}
  }
}

function settle(resolve, reject, status, body) {
  if (status >= 200 && status < 300) resolve(body)
  else reject(refusal(status, body))
}

function transport(ep, url, options) {
  return new Promise((resolve, reject) => {
    const header = headers(ep)
    const fail = (err) => reject(offline(err))
    if (ep.file) {
      wx.uploadFile({
        url, header, filePath: options.filePath, name: ep.file, fail,
        success: (res) => settle(resolve, reject, res.statusCode, parse(res.data)),
      })
    } else if (ep.download) {
      wx.downloadFile({
        url, header, fail,
        success: (res) => settle(resolve, reject, res.statusCode, res.tempFilePath),
      })
    } else {
      wx.request({
        url, method: ep.method, header, data: options.data, fail,
        success: (res) => settle(resolve, reject, res.statusCode, res.data),
      })
    }
  })
}

// call('getTask', {params: {ref}}), call('complete', {params: {ref}, data: {note}}),
// call('uploadPhoto', {params: {ref}, filePath}), call('photo', {params}) -> a temp file path.
// A 401 means the token expired: sign in again with wx.login and retry once.
async function call(name, options = {}) {
  const ep = endpoint(name)
  checkFields(name, ep, options)
  const url = urlFor(ep, options.params || {}, options.query || {})
  try {
    return await transport(ep, url, options)
  } catch (err) {
    if (err.status !== 401 || ep.public) throw err
    await require('./auth').refresh()
    return transport(ep, url, options)
  }
}

// Show why something failed: short texts as a toast, longer ones in a modal so nothing is cut.
function showError(err) {
  const message = (err && err.message) || SERVER_MESSAGE
  if (message.length <= TOAST_MAX_CHARS) wx.showToast({ title: message, icon: 'none' })
  else wx.showModal({ title: '提示', content: message, showCancel: false })
}

module.exports = { ENDPOINTS, ApiError, call, showError, OFFLINE_MESSAGE, SERVER_MESSAGE }
