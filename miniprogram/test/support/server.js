// A fake wuye server behind the fake wx: routes are "METHOD /path" (no query) -> handler or
// answer. A handler gets {data, query, header, filePath} and returns a body, or [status, body].
const config = require('../../config')

function split(url) {
  const [path, search] = url.slice(config.baseUrl.length).split('?')
  const query = {}
  ;(search || '').split('&').filter(Boolean).forEach((pair) => {
    const [key, value] = pair.split('=')
    query[key] = decodeURIComponent(value)
  })
  return { path, query }
}

function answer(routes, calls, method, url, extra) {
  const { path, query } = split(url)
  const request = { method, path, query, ...extra }
  calls.push(request)
  const route = routes[`${method} ${path}`]
  if (route === undefined) return [404, { error: { code: 'not_found', message: `no fake route ${method} ${path}` } }]
  const result = typeof route === 'function' ? route(request) : route
  return Array.isArray(result) ? result : [200, result]
}

function fakeServer(routes) {
  const calls = []
  wx.request.mockImplementation((options) => {
    const [statusCode, data] = answer(routes, calls, options.method, options.url, { data: options.data, header: options.header })
    options.success({ statusCode, data })
  })
  wx.uploadFile.mockImplementation((options) => {
    const [statusCode, data] = answer(routes, calls, 'POST', options.url, { filePath: options.filePath, name: options.name, header: options.header })
    options.success({ statusCode, data: JSON.stringify(data) })
  })
  wx.downloadFile.mockImplementation((options) => {
    const [statusCode] = answer(routes, calls, 'GET', options.url, { header: options.header })
    options.success({ statusCode, tempFilePath: `wxfile://downloaded${split(options.url).path}` })
  })
  return {
    calls,
    called: (method, path) => calls.filter((c) => c.method === method && c.path === path),
  }
}

function signedInAs(user, token = 'token-1') {
  wx.setStorageSync('wuye.token', token)
  wx.setStorageSync('wuye.user', user)
}

module.exports = { fakeServer, signedInAs }
