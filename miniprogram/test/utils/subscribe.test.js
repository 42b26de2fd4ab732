const subscribe = require('../../utils/subscribe')
const { fakeServer, signedInAs } = require('../support/server')

beforeEach(() => signedInAs({ kind: 'resident', id: 3 }))

test('before a report it asks for the acceptance, completion and rating templates', async () => {
  fakeServer({ 'POST /api/v1/notify/subscriptions': { remaining: {}, ignored: [] } })
  await subscribe.askFor('report')
  expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds)
    .toEqual(['msub_task_accepted', 'msub_task_completed', 'msub_rate_request'])
})

test('WeChat allows at most three templates per ask', () => {
  Object.keys(subscribe.PURPOSES).forEach((purpose) => {
    expect(subscribe.templateIds(purpose).length).toBeLessThanOrEqual(3)
  })
})

test('the answers are reported to the server as WeChat gave them', async () => {
  const server = fakeServer({ 'POST /api/v1/notify/subscriptions': { remaining: {}, ignored: [] } })
  wx.requestSubscribeMessage.mockImplementation((options) => options.success({
    errMsg: 'requestSubscribeMessage:ok', msub_task_assigned: 'accept', msub_breach_warning: 'reject',
  }))
  await subscribe.askFor('accept')
  expect(server.called('POST', '/api/v1/notify/subscriptions')[0].data).toEqual({
    errMsg: 'requestSubscribeMessage:ok', msub_task_assigned: 'accept', msub_breach_warning: 'reject',
  })
})

test('a closed consent dialog reports nothing and does not fail the action', async () => {
  const server = fakeServer({})
  wx.requestSubscribeMessage.mockImplementation((options) => options.fail({ errMsg: 'requestSubscribeMessage:fail cancel' }))
  await expect(subscribe.askFor('report')).resolves.toBeNull()
  expect(server.calls).toHaveLength(0)
})

test('a server that cannot record the answers does not fail the action', async () => {
  fakeServer({ 'POST /api/v1/notify/subscriptions': [500, {}] })
  await expect(subscribe.askFor('report')).resolves.toMatchObject({ msub_rate_request: 'accept' })
})
