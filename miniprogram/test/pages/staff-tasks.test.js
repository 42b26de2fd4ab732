const { render, textOf, textsOf, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { STAFF, task } = require('../support/fixtures')

const PAGE = 'pages/staff/tasks/tasks'

beforeEach(() => signedInAs(STAFF))

test('opens on tasks waiting to be accepted, with place, description and deadline', async () => {
  const server = fakeServer({ 'GET /api/v1/tasks': { items: [task(), task({ ref: 'T1043', urgency: 'urgent' })] } })
  const page = render(PAGE)
  await page.instance.onLoad({ scope: 'mine' })
  expect(server.calls[0].query).toEqual({ scope: 'mine', status: 'assigned' })
  expect(textsOf(page, '.task')[0]).toBe('T1042 · 水管漏水 · 5号楼2单元302 已派单 卫生间水管漏水 11-29 09:00 前完成')
  expect(textsOf(page, '.badge')).toEqual(['已派单', '紧急'])
})

test('a tab asks for its own statuses', async () => {
  const server = fakeServer({ 'GET /api/v1/tasks': { items: [] } })
  const page = render(PAGE)
  await page.instance.onLoad({})
  await tap(page, '.tab', 1)
  expect(server.calls[1].query).toEqual({ scope: 'mine', status: 'accepted,on_site' })
  expect(textOf(page, '.empty')).toBe('没有处理中的任务')
  expect(textOf(page, '.tab.active')).toBe('处理中')
})

test('tapping a task opens it', async () => {
  fakeServer({ 'GET /api/v1/tasks': { items: [task()] } })
  const page = render(PAGE)
  await page.instance.onLoad({})
  await tap(page, '.task')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/staff/task/task?ref=T1042' })
})

test('a team list is titled as such and asks for scope=team', async () => {
  const server = fakeServer({ 'GET /api/v1/tasks': { items: [] } })
  const page = render(PAGE)
  await page.instance.onLoad({ scope: 'team' })
  expect(wx.setNavigationBarTitle).toHaveBeenCalledWith({ title: '团队任务' })
  expect(server.calls[0].query.scope).toBe('team')
})

test('a refusal is shown in place of the list', async () => {
  fakeServer({ 'GET /api/v1/tasks': [403, { error: { code: 'forbidden', message: '您没有权限进行这个操作。' } }] })
  const page = render(PAGE)
  await page.instance.onLoad({ scope: 'all' })
  expect(textOf(page, '.error')).toBe('您没有权限进行这个操作。')
})
