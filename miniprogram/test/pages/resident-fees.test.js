const { render, textOf, textsOf, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, room, statement } = require('../support/fixtures')
const { HOW_TO_PAY } = require('../../utils/fees')

const PAGE = 'pages/resident/fees/fees'

beforeEach(() => signedInAs(RESIDENT))

async function open(routes) {
  const server = fakeServer(routes)
  const page = render(PAGE)
  await page.instance.onLoad()
  return { page, server }
}

test('shows a loading state first', () => {
  expect(textOf(render(PAGE))).toBe('加载中…')
})

test('shows what is owed per item, what is overdue, how to pay, and every row', async () => {
  const { page, server } = await open({
    'GET /api/v1/me/rooms': { items: [room()] },
    'GET /api/v1/rooms/17/fees': statement(),
  })
  expect(server.called('GET', '/api/v1/rooms/17/fees')).toHaveLength(1)
  expect(textOf(page, '.summary')).toBe(
    '翠苑小区 5号楼2单元302 已逾期 物业费 ¥537.00 其中已逾期 ¥268.50 2026年10月、2026年11月',
  )
  expect(page.querySelector('.badge.urgent')).toBeDefined()
  expect(textOf(page, '.pay')).toBe(HOW_TO_PAY)
  expect(textsOf(page, '.row')).toEqual([
    '2026年11月 物业费 ¥268.50 已缴 ¥0.00 · 2026-11-30 到期',
    '2026年10月 物业费 ¥268.50 已缴 ¥0.00 · 2026-10-31 到期 · 已逾期',
    '2026年10月 停车费 ¥300.00 已缴清 · 2026-10-31 到期',
  ])
  expect(page.querySelectorAll('.row.late')).toHaveLength(1)
})

test('a household with nothing to pay is told so', async () => {
  const { page } = await open({
    'GET /api/v1/me/rooms': { items: [room()] },
    'GET /api/v1/rooms/17/fees': statement({
      state: 'clear', credit: '120.00',
      balances: [{ item: 'property_fee', item_name: '物业费', outstanding: '0.00', overdue: '0.00', oldest_overdue: null, open_periods: [] }],
      rows: [],
    }),
  })
  expect(textOf(page, '.summary')).toBe('翠苑小区 5号楼2单元302 已缴清 目前没有待缴费用 预缴余额 ¥120.00')
  expect(page.querySelector('.badge.urgent')).toBeUndefined()
  expect(textOf(page, '.rows')).toBe('暂无费用记录')
})

test('two rooms: each has its own statement', async () => {
  const { page, server } = await open({
    'GET /api/v1/me/rooms': { items: [room(), room({ room_id: 18, room: '303', address: '翠苑小区 5号楼2单元303' })] },
    'GET /api/v1/rooms/17/fees': statement(),
    'GET /api/v1/rooms/18/fees': statement({ room: 18, state: 'clear', balances: [], rows: [] }),
  })
  expect(textsOf(page, '.room-tab')).toEqual(['翠苑小区 5号楼2单元302', '翠苑小区 5号楼2单元303'])
  await tap(page, '.room-tab', 1)
  expect(server.called('GET', '/api/v1/rooms/18/fees')).toHaveLength(1)
  expect(textOf(page, '.summary')).toBe('翠苑小区 5号楼2单元303 已缴清 目前没有待缴费用')
})

test('without a bound room it offers binding one', async () => {
  const { page, server } = await open({ 'GET /api/v1/me/rooms': { items: [] } })
  expect(textOf(page, '.none')).toBe('还没有绑定房屋，绑定后可查看费用 绑定房屋')
  expect(server.calls).toHaveLength(1)
  await tap(page, '#bind')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/bind/bind' })
})

test('offline says so', async () => {
  wx.request.mockImplementation((options) => options.fail({ errMsg: 'request:fail' }))
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(textOf(page, '.error')).toBe('网络连接失败，请检查网络后重试')
})

test('a room the server will not show explains why', async () => {
  const { page } = await open({
    'GET /api/v1/me/rooms': { items: [room()] },
    'GET /api/v1/rooms/17/fees': [404, { error: { code: 'not_found', message: 'no such room' } }],
  })
  expect(textOf(page, '.error')).toBe('no such room')
})
