const { render, textOf, tap, type, pick, shownMessage } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, task } = require('../support/fixtures')

const PAGE = 'pages/resident/report/report'
const ROOM = {
  room_id: 1, community: 'alpha', community_name: '阿尔法小区', building: '5', unit: '2', room: '302',
  address: '阿尔法小区5号楼2单元302', relation: 'owner',
}

async function open(routes) {
  signedInAs(RESIDENT)
  const server = fakeServer({ 'GET /api/v1/me/rooms': { items: [ROOM] }, ...routes })
  const page = render(PAGE)
  await page.instance.onLoad()
  return { page, server }
}

function describe(page, text) {
  return type(page, '#description', text)
}

test('the form starts at my room and the first category', async () => {
  const { page } = await open({})
  expect(textOf(page, '.place')).toBe('阿尔法小区5号楼2单元302')
  expect(textOf(page, '.category')).toBe('水管漏水')
})

test('someone with no room is sent to bind one first', async () => {
  const { page } = await open({ 'GET /api/v1/me/rooms': { items: [] } })
  expect(textOf(page, '.unbound')).toBe('报修前请先绑定您的房屋。 去绑定')
  await tap(page, '#go-bind')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/bind/bind' })
})

test('submitting asks for consent, creates the task, uploads the photos and opens its progress', async () => {
  const { page, server } = await open({
    'POST /api/v1/notify/subscriptions': { remaining: {}, ignored: [] },
    'POST /api/v1/tasks': [201, task({ ref: 'T2001', state: 'submitted' })],
    'POST /api/v1/tasks/T2001/photos': [201, { id: 1 }],
  })
  await pick(page, '#category-picker', 2)
  await describe(page, '客厅插座冒火花')
  await tap(page, '#add-photos')
  await tap(page, '#submit')
  expect(wx.requestSubscribeMessage).toHaveBeenCalledTimes(1)
  expect(server.called('POST', '/api/v1/tasks')[0].data).toEqual({
    community: 'alpha', building: '5', unit: '2', room: '302', category: 'electricity', urgency: 'normal',
    description: '客厅插座冒火花',
  })
  expect(server.called('POST', '/api/v1/tasks/T2001/photos')[0].filePath).toBe('wxfile://photo-1.jpg')
  expect(wx.redirectTo).toHaveBeenCalledWith({ url: '/pages/resident/repair/repair?ref=T2001' })
})

test('a shared-area report names the spot, picked on the map', async () => {
  const { page, server } = await open({ 'POST /api/v1/tasks': [201, task({ ref: 'T2002' })] })
  await pick(page, '#place-picker', 1)
  await tap(page, '#map')
  await describe(page, '大堂灯不亮')
  await tap(page, '#submit')
  expect(server.called('POST', '/api/v1/tasks')[0].data).toMatchObject({ community: 'alpha', place: '5号楼大堂' })
  expect(server.called('POST', '/api/v1/tasks')[0].data.room).toBeUndefined()
})

test('an empty description is not sent', async () => {
  const { page, server } = await open({})
  await tap(page, '#submit')
  expect(wx.showToast).toHaveBeenCalledWith({ title: '请描述一下问题', icon: 'none' })
  expect(server.called('POST', '/api/v1/tasks')).toHaveLength(0)
})

test('offline at submit says so and stays on the form', async () => {
  const { page } = await open({})
  await describe(page, '水管漏水')
  wx.request.mockImplementation((options) => options.fail({ errMsg: 'request:fail' }))
  await tap(page, '#submit')
  expect(shownMessage()).toBe('网络连接失败，请检查网络后重试')
  expect(wx.redirectTo).not.toHaveBeenCalled()
})
