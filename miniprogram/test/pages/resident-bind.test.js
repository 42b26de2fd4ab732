const { render, textOf, textsOf, tap, type, pick, shownMessage } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT } = require('../support/fixtures')

const PAGE = 'pages/resident/bind/bind'
const GUEST = { kind: 'guest', id: null, name: '', role: 'guest', phone: '' }
const COMMUNITIES = { items: [{ code: 'alpha', name: '阿尔法小区' }, { code: 'beta', name: '贝塔家园' }] }
const ROOM = {
  room_id: 1, community: 'alpha', community_name: '阿尔法小区', building: '5', unit: '2', room: '302',
  address: '阿尔法小区5号楼2单元302', relation: 'owner',
}

async function open(routes, user = GUEST) {
  signedInAs(user, 'guest-token')
  const server = fakeServer({ 'GET /api/v1/bindings/communities': COMMUNITIES, ...routes })
  const page = render(PAGE)
  await page.instance.onLoad()
  return { page, server }
}

test('a guest sees no rooms yet and a form starting at the first community', async () => {
  const { page } = await open({ 'GET /api/v1/me/rooms': { items: [] } })
  expect(textOf(page, '.rooms')).toBe('还没有绑定房屋')
  expect(textOf(page, '.picked')).toBe('阿尔法小区')
})

test('binding sends the address and phone, then keeps the resident token it gets back', async () => {
  let bound = false
  const { page, server } = await open({
    'GET /api/v1/me/rooms': () => ({ items: bound ? [ROOM] : [] }),
    'POST /api/v1/bindings': () => {
      bound = true
      return [201, { token: 'resident-token', expires_in: 7200, user: RESIDENT, room: ROOM, already: false }]
    },
  })
  await pick(page, '#community', 1)
  await type(page, '#building', '5')
  await type(page, '#unit', '2')
  await type(page, '#room', '302')
  await type(page, '#phone', '1234')
  await tap(page, '#bind')
  expect(server.called('POST', '/api/v1/bindings')[0].data)
    .toEqual({ community: 'beta', building: '5', unit: '2', room: '302', phone: '1234' })
  expect(wx.getStorageSync('wuye.token')).toBe('resident-token')
  expect(wx.showToast).toHaveBeenCalledWith({ title: '绑定成功', icon: 'success' })
  expect(textsOf(page, '.address')).toEqual(['阿尔法小区5号楼2单元302'])
})

test('a wrong phone shows the server explanation with the attempts left', async () => {
  const message = '手机号与阿尔法小区5号楼2单元302的登记信息不符，请再试一次（还可以尝试 2 次）。'
  const { page } = await open({
    'GET /api/v1/me/rooms': { items: [] },
    'POST /api/v1/bindings': [400, { error: { code: 'wrong_phone', message } }],
  })
  for (const [id, value] of [['#building', '5'], ['#unit', '2'], ['#room', '302'], ['#phone', '0000']]) {
    await type(page, id, value)
  }
  await tap(page, '#bind')
  expect(shownMessage()).toBe(message)
  expect(wx.getStorageSync('wuye.token')).toBe('guest-token')
})

test('an incomplete form is not sent', async () => {
  const { page, server } = await open({ 'GET /api/v1/me/rooms': { items: [] } })
  await type(page, '#building', '5')
  await tap(page, '#bind')
  expect(server.called('POST', '/api/v1/bindings')).toHaveLength(0)
  expect(shownMessage()).toBe('请填写小区、楼号、单元、房号和手机号')
})

test('leaving a room asks first, then swaps in the token the server returns', async () => {
  let left = false
  const { page } = await open({
    'GET /api/v1/me/rooms': () => ({ items: left ? [] : [ROOM] }),
    'DELETE /api/v1/bindings/1': () => {
      left = true
      return { token: 'guest-again', expires_in: 7200, user: GUEST, unlinked: true }
    },
  }, RESIDENT)
  await tap(page, '.unbind')
  expect(wx.showModal.mock.calls[0][0].content).toBe('确定解除 阿尔法小区5号楼2单元302 的绑定？')
  expect(wx.getStorageSync('wuye.user')).toEqual(GUEST)
  expect(textOf(page, '.rooms')).toBe('还没有绑定房屋')
})
