const { noticeView } = require('../../utils/notices')
const { notice } = require('../support/fixtures')

test('a notice reads with its kind, short time and urgency', () => {
  expect(noticeView(notice())).toEqual({
    id: 31, kind: 'water_outage', kindName: '停水通知', title: '停水通知', summary: '明天9:00-12:00停水',
    body: '明天9:00-12:00停水，请提前储水', sentAt: '11-26 15:00', urgent: true,
  })
})

test('a notice without a title takes its kind\'s name', () => {
  expect(noticeView(notice({ title: '', urgent: false })).title).toBe('停水通知')
  expect(noticeView(notice({ urgent: undefined })).urgent).toBe(false)
})
