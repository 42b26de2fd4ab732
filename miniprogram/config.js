// Where the mini-program finds the wuye server, and which subscribe-message templates it asks for.
module.exports = {
  // `make run` serves on 127.0.0.1:8000. In WeChat DevTools tick 详情 → 本地设置 → 不校验合法域名
  // for local work; a real device needs an HTTPS domain listed as request/uploadFile/downloadFile
  // 合法域名 in the mini-program admin console (WeChat refuses any other host).
  baseUrl: 'http://127.0.0.1:8000',

  // Subscribe-message template ids by kind: the same names as [miniapp.templates] in the
  // server's config/default.toml. Replace the demo ids with your account's own.
  templates: {
    task_assigned: 'msub_task_assigned',
    task_accepted: 'msub_task_accepted',
    task_completed: 'msub_task_completed',
    breach_warning: 'msub_breach_warning',
    rate_request: 'msub_rate_request',
  },
}
