// Ask for subscribe-message consent right before an action that will notify, then tell the
// server. WeChat grants one send per "accept" and lets only a tap ask (so call askFor first
// in a tap handler, before any network await), with at most 3 templates per request:
// https://developers.weixin.qq.com/miniprogram/dev/api/open-api/subscribe-message/wx.requestSubscribeMessage.html
const config = require('../config')
const api = require('./api')

// What each action will lead to: a reporter hears of acceptance, completion, and the rating
// request; a worker accepting a task will get new assignments and SLA warnings.
const PURPOSES = {
  report: ['task_accepted', 'task_completed', 'rate_request'],
  accept: ['task_assigned', 'breach_warning'],
}

function templateIds(purpose) {
  return (PURPOSES[purpose] || []).map((kind) => config.templates[kind]).filter(Boolean)
}

function request(tmplIds) {
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds,
      success: resolve,
      fail: () => resolve(null), // closed, unsupported or too many asks: the action goes on
    })
  })
}

// The consent answers ({errMsg, <id>: 'accept'|'reject'|'ban'|'filter'}), or null. Never throws:
// a failed report costs at most a notification, never the action itself.
async function askFor(purpose) {
  const tmplIds = templateIds(purpose)
  if (!tmplIds.length || typeof wx.requestSubscribeMessage !== 'function') return null
  const answers = await request(tmplIds)
  if (!answers) return null
  try {
    await api.call('reportSubscriptions', { data: answers })
  } catch (err) {
    // the next consent asks again; nothing to show the user
  }
  return answers
}

module.exports = { PURPOSES, templateIds, askFor }
