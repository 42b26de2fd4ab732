const { render, textOf, textsOf, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, task } = require('../support/fixtures')

const PAGE = 'pages/resident/repairs/repairs'

beforeEach(() => signedInAs(RESIDENT))

test('lists my repairs with how far each has got', async () => {
  const server = fakeServer({ 'GET /api/v1/tasks': { items: [task({ state: 'completed' }), task({ ref: 'T1001', state: 'accepted' })] } })
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(server.calls[0].query).toEqual({ scope: 'mine' })
  expect(textsOf(page, '.repair')).toEqual([
    'T1042 · 水管漏水 · 5号楼2单元302 已完成 卫生间水管漏水 11-26 09:00 提交 · 待您评价',
    'T1001 · 水管漏水 · 5号楼2单元302 已接单 卫生间水管漏水 11-26 09:00 提交',
  ])
  expect(page.data.items.map((item) => item.percent)).toEqual([83, 50])
})

test('no repairs yet offers to report one', async () => {
  fakeServer({ 'GET /api/v1/tasks': { items: [] } })
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(textOf(page, '.none')).toBe('还没有报修记录 我要报修')
  await tap(page, '#report')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/report/report' })
})

test('tapping a repair opens its progress', async () => {
  fakeServer({ 'GET /api/v1/tasks': { items: [task()] } })
  const page = render(PAGE)
  await page.instance.onLoad()
  await tap(page, '.repair')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/repair/repair?ref=T1042' })
})
