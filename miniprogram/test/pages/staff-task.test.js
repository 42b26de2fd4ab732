const { render, textOf, textsOf, tap, type, shownMessage } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { STAFF, LEAD, event, task } = require('../support/fixtures')

const PAGE = 'pages/staff/task/task'
const DETAIL = 'GET /api/v1/tasks/T1042'

async function open(routes, user = STAFF) {
  signedInAs(user)
  const server = fakeServer(routes)
  const page = render(PAGE)
  await page.instance.onLoad({ ref: 'T1042' })
  return { page, server }
}

function buttons(page) {
  return textsOf(page, '.action')
}

test('shows the task, its deadlines and its timeline', async () => {
  const { page } = await open({ [DETAIL]: task() })
  expect(textOf(page, '.card')).toBe(
    'T1042 已派单 水管漏水 · 5号楼2单元302 卫生间水管漏水 时限： 响应 11-26 11:00 到场 11-27 09:00 完成 11-29 09:00')
  expect(textsOf(page.querySelector('#timeline'), '.title')).toEqual(['提交报修', '派单'])
})

test('an instruction and a rework reason stand out in the timeline', async () => {
  const events = task().events.concat([
    event('instruct', 'assigned', 'assigned', '赵敏', '先关总阀再修', '2026-11-26T10:00:00+08:00'),
    event('rework', 'completed', 'reopened', '赵敏', '墙面仍有水渍', '2026-11-28T10:00:00+08:00'),
  ])
  const { page } = await open({ [DETAIL]: task({ events }) })
  expect(textsOf(page.querySelector('#timeline'), '.attention')).toEqual([
    '领导指示 11-26 10:00 赵敏 先关总阀再修',
    '要求返工 11-28 10:00 赵敏 · 重新处理 墙面仍有水渍',
  ])
})

test('accepting asks for subscribe consent first, then moves the task on', async () => {
  const { page, server } = await open({
    [DETAIL]: task(),
    'POST /api/v1/notify/subscriptions': { remaining: {}, ignored: [] },
    'POST /api/v1/tasks/T1042/accept': task({ state: 'accepted' }),
  })
  expect(buttons(page)).toEqual(['接单'])
  await tap(page, '#accept')
  expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['msub_task_assigned', 'msub_breach_warning'])
  expect(server.calls.map((c) => c.path)).toContain('/api/v1/tasks/T1042/accept')
  expect(textOf(page, '.badge')).toBe('已接单')
  expect(buttons(page)).toEqual(['到场签到（获取位置）', '拍照上传'])
})

test('check-in sends the GCJ-02 location', async () => {
  const { page, server } = await open({
    [DETAIL]: task({ state: 'accepted' }),
    'POST /api/v1/tasks/T1042/checkin': task({ state: 'on_site' }),
  })
  await tap(page, '#checkin')
  expect(wx.getLocation.mock.calls[0][0].type).toBe('gcj02')
  expect(server.called('POST', '/api/v1/tasks/T1042/checkin')[0].data).toEqual({ lat: 30.2891, lng: 120.1212, accuracy: 15 })
  expect(buttons(page)).toEqual(['拍照上传', '完工'])
})

test('check-in outside the estate shows why it was refused', async () => {
  const { page } = await open({
    [DETAIL]: task({ state: 'accepted' }),
    'POST /api/v1/tasks/T1042/checkin': [400, { error: { code: 'outside_geofence', message: '您当前不在小区范围内，无法签到，请到现场后再发送位置。' } }],
  })
  await tap(page, '#checkin')
  expect(shownMessage()).toBe('您当前不在小区范围内，无法签到，请到现场后再发送位置。')
  expect(textOf(page, '.badge')).toBe('已接单')
})

test('a refused location permission is explained, nothing is sent', async () => {
  wx.getLocation.mockImplementation((options) => options.fail({ errMsg: 'getLocation:fail auth deny' }))
  const { page, server } = await open({ [DETAIL]: task({ state: 'accepted' }) })
  await tap(page, '#checkin')
  expect(shownMessage()).toBe('无法获取位置，请在设置中允许使用位置信息后重试')
  expect(server.called('POST', '/api/v1/tasks/T1042/checkin')).toHaveLength(0)
})

test('photos are taken, uploaded and shown', async () => {
  let uploaded = false
  const { page, server } = await open({
    [DETAIL]: () => task({ state: 'on_site', photo_ids: uploaded ? [11] : [] }),
    'POST /api/v1/tasks/T1042/photos': () => { uploaded = true; return [201, { id: 11 }] },
    'GET /api/v1/photos/11': '',
  })
  await tap(page, '#photos')
  expect(wx.chooseMedia.mock.calls[0][0]).toMatchObject({ mediaType: ['image'], sourceType: ['camera', 'album'] })
  expect(server.called('POST', '/api/v1/tasks/T1042/photos')[0].filePath).toBe('wxfile://photo-1.jpg')
  expect(page.querySelectorAll('.photo').map((node) => node.dom.dataset.src))
    .toEqual(['wxfile://downloaded/api/v1/photos/11'])
})

test('completing sends the note', async () => {
  const { page, server } = await open({
    [DETAIL]: task({ state: 'on_site' }),
    'POST /api/v1/tasks/T1042/complete': task({ state: 'completed' }),
  })
  await type(page, '#note', '换了阀门')
  await tap(page, '#complete')
  expect(server.called('POST', '/api/v1/tasks/T1042/complete')[0].data).toEqual({ note: '换了阀门' })
  expect(textOf(page, '.badge')).toBe('已完成')
})

test('someone else\'s task shows no buttons to a worker', async () => {
  const { page } = await open({ [DETAIL]: task({ assignee: { id: 99, name: '李四' } }) })
  expect(buttons(page)).toEqual([])
})

test('a lead orders rework of a completed task with a reason', async () => {
  const reworked = task({
    state: 'reopened',
    events: task().events.concat([event('rework', 'completed', 'reopened', '钱工', '墙面仍有水渍', '2026-11-28T10:00:00+08:00')]),
  })
  const { page, server } = await open({
    [DETAIL]: task({ state: 'completed' }),
    'POST /api/v1/tasks/T1042/rework': reworked,
  }, LEAD)
  expect(buttons(page)).toEqual(['下达指示', '要求返工'])
  await type(page, '#rework-reason', '墙面仍有水渍')
  await tap(page, '#rework')
  expect(server.called('POST', '/api/v1/tasks/T1042/rework')[0].data).toEqual({ reason: '墙面仍有水渍' })
  expect(textsOf(page.querySelector('#timeline'), '.attention')).toEqual(['要求返工 11-28 10:00 钱工 · 重新处理 墙面仍有水渍'])
})

test('an empty instruction is not sent', async () => {
  const { page, server } = await open({ [DETAIL]: task() }, LEAD)
  await tap(page, '#instruct')
  expect(wx.showToast).toHaveBeenCalledWith({ title: '请填写指示内容', icon: 'none' })
  expect(server.called('POST', '/api/v1/tasks/T1042/instruct')).toHaveLength(0)
})
