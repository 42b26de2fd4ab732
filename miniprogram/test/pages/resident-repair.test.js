const { render, textOf, textsOf, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, event, task } = require('../support/fixtures')

const PAGE = 'pages/resident/repair/repair'
const DETAIL = 'GET /api/v1/tasks/T1042'

async function open(routes) {
  signedInAs(RESIDENT)
  const server = fakeServer(routes)
  const page = render(PAGE)
  await page.instance.onLoad({ ref: 'T1042' })
  return { page, server }
}

test('shows the handler, the progress steps and the timeline', async () => {
  const events = task().events.concat([event('accept', 'assigned', 'accepted', '王强', '', '2026-11-26T09:30:00+08:00')])
  const { page } = await open({ [DETAIL]: task({ state: 'accepted', events }) })
  expect(textOf(page, '.handler')).toBe('处理人：王强')
  expect(textsOf(page, '.step.done')).toEqual(['提交', '派单', '接单'])
  expect(textsOf(page.querySelector('#timeline'), '.title')).toEqual(['提交报修', '派单', '接单'])
  expect(textsOf(page, '.action')).toEqual(['催办', '取消报修'])
})

test('urging records it and says so', async () => {
  const { server, page } = await open({ [DETAIL]: task(), 'POST /api/v1/tasks/T1042/urge': task() })
  await tap(page, '#urge')
  expect(server.called('POST', '/api/v1/tasks/T1042/urge')).toHaveLength(1)
  expect(wx.showToast).toHaveBeenCalledWith({ title: '已催办', icon: 'success' })
})

test('cancelling asks for a reason and sends it', async () => {
  wx.showModal.mockImplementation((options) => options.success({ confirm: true, content: '已自行修好' }))
  const { server, page } = await open({
    [DETAIL]: task(), 'POST /api/v1/tasks/T1042/cancel': task({ state: 'cancelled' }),
  })
  await tap(page, '#cancel')
  expect(server.called('POST', '/api/v1/tasks/T1042/cancel')[0].data).toEqual({ reason: '已自行修好' })
  expect(textOf(page, '.state')).toBe('已取消')
  expect(page.querySelector('.steps')).toBeUndefined()
})

test('a completed repair offers rating', async () => {
  const { page } = await open({ [DETAIL]: task({ state: 'completed' }) })
  expect(textsOf(page, '.action')).toEqual(['评价服务'])
  await tap(page, '#rate')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/rate/rate?ref=T1042' })
})

test('a repair that is not mine reads as not found', async () => {
  const { page } = await open({ [DETAIL]: [404, { error: { code: 'no_such_task', message: '没有找到这个任务单号。' } }] })
  expect(textOf(page, '.error')).toBe('没有找到这个任务单号。')
})
