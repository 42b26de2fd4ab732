const { render, textOf, textsOf } = require('../support/render')
const { event } = require('../support/fixtures')

const COMPONENT = 'components/timeline/timeline'

test('an empty trail says so', () => {
  const timeline = render(COMPONENT, { events: [] })
  expect(textOf(timeline)).toBe('暂无记录')
})

test('each event reads as what happened, when, by whom, with its note', () => {
  const timeline = render(COMPONENT, {
    events: [
      event('check_in', 'accepted', 'on_site', '王强', '', '2026-11-26T10:00:00+08:00'),
      event('rate_low', 'completed', 'reopened', '张伟', '还是漏水', '2026-11-27T10:00:00+08:00'),
    ],
  })
  expect(textsOf(timeline, '.row')).toEqual([
    '到场签到 11-26 10:00 王强 · 已到场',
    '不满意，转主管处理 11-27 10:00 张伟 · 重新处理 还是漏水',
  ])
  expect(textsOf(timeline, '.attention')).toEqual(['不满意，转主管处理 11-27 10:00 张伟 · 重新处理 还是漏水'])
})
