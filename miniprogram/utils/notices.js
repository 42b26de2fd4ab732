// Notices as the resident's pages show them (GET /api/v1/me/notices). Outage and emergency
// notices come marked `urgent` by the server and stand out; the body is shown as sent, since an
// outage's times are written in its words (docs/notices.md).
const { shortTime } = require('./tasks')

function noticeView(notice) {
  return {
    id: notice.id,
    kind: notice.kind,
    kindName: notice.kind_name || '',
    title: notice.title || notice.kind_name || '',
    summary: notice.summary || '',
    body: notice.body || '',
    sentAt: shortTime(notice.sent_at),
    urgent: Boolean(notice.urgent),
  }
}

module.exports = { noticeView }
