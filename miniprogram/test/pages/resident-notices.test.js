const { render, textOf, textsOf, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, notice } = require('../support/fixtures')

const LIST = 'pages/resident/notices/notices'
const DETAIL = 'pages/resident/notice/notice'

beforeEach(() => signedInAs(RESIDENT))

const NOTICES = [
  notice(),
  notice({ id: 30, kind: 'activity', kind_name: '社区活动通知', title: '社区活动通知', summary: '周六下午亲子活动', body: '周六下午三点在中心广场举办亲子活动', urgent: false, sent_at: '2026-11-25T10:00:00+08:00' }),
]

test('shows a loading state until the notices arrive', () => {
  const page = render(LIST)
  expect(textOf(page)).toBe('加载中…')
})

test('lists my notices newest first, outages standing out', async () => {
  fakeServer({ 'GET /api/v1/me/notices': { items: NOTICES } })
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textsOf(page, '.notice')).toEqual([
    '停水通知 停水通知 明天9:00-12:00停水 11-26 15:00',
    '社区活动通知 社区活动通知 周六下午亲子活动 11-25 10:00',
  ])
  expect(page.querySelectorAll('.notice.urgent')).toHaveLength(1)
  await tap(page, '.notice', 1)
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/notice/notice?id=30' })
})

test('no notices says so', async () => {
  fakeServer({ 'GET /api/v1/me/notices': { items: [] } })
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textOf(page, '.none')).toBe('暂时没有通知')
})

test('offline says so instead of an empty list', async () => {
  wx.request.mockImplementation((options) => options.fail({ errMsg: 'request:fail' }))
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textOf(page, '.error')).toBe('网络连接失败，请检查网络后重试')
})

test('the detail shows the whole notice as sent, highlighted when urgent', async () => {
  fakeServer({ 'GET /api/v1/me/notices': { items: NOTICES } })
  const page = render(DETAIL)
  await page.instance.onLoad({ id: '31' })
  expect(textOf(page, '.detail')).toBe('停水通知 停水通知 11-26 15:00 发布 明天9:00-12:00停水，请提前储水')
  expect(page.querySelector('.detail.urgent')).toBeDefined()
})

test('a notice no longer in my list is explained', async () => {
  fakeServer({ 'GET /api/v1/me/notices': { items: NOTICES } })
  const page = render(DETAIL)
  await page.instance.onLoad({ id: '99' })
  expect(textOf(page, '.error')).toBe('这条通知已不在您的通知列表中')
})
