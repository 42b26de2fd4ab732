const { render, textOf, textsOf, tap, type, shownMessage } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, myPoll, poll } = require('../support/fixtures')

const LIST = 'pages/resident/polls/polls'
const PAGE = 'pages/resident/poll/poll'
const GET = 'GET /api/v1/polls/12'
const PUT = 'PUT /api/v1/polls/12/answers'

beforeEach(() => signedInAs(RESIDENT))

async function openPoll(routes) {
  const server = fakeServer(routes)
  const page = render(PAGE)
  await page.instance.onLoad({ id: '12' })
  return { page, server }
}

// ---------------------------------------------------------------- the list

test('the list shows a loading state first', () => {
  expect(textOf(render(LIST))).toBe('加载中…')
})

test('lists the polls I am invited to and whether I took part', async () => {
  fakeServer({
    'GET /api/v1/me/polls': {
      items: [myPoll(), myPoll({ id: 9, title: '停车位调整', status: 'closed', accepting: false, answered: true, questions: 2, closes_at: '2026-11-10T18:00:00+08:00' })],
    },
  })
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textsOf(page, '.poll')).toEqual([
    '加装电梯意见征集 进行中 共 4 题 · 11-30 18:00 截止 · 待参与',
    '停车位调整 已结束 共 2 题 · 11-10 18:00 截止 · 已参与',
  ])
  await tap(page, '.poll')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/resident/poll/poll?id=12' })
})

test('no polls says so', async () => {
  fakeServer({ 'GET /api/v1/me/polls': { items: [] } })
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textOf(page, '.none')).toBe('暂时没有邀请您参与的投票')
})

test('a refusal shows the server\'s reason', async () => {
  fakeServer({ 'GET /api/v1/me/polls': [403, { error: { code: 'forbidden', message: '仅住户可以参与投票' } }] })
  const page = render(LIST)
  await page.instance.onLoad()
  expect(textOf(page, '.error')).toBe('仅住户可以参与投票')
})

// ---------------------------------------------------------------- one poll

test('the poll page shows a loading state first', () => {
  expect(textOf(render(PAGE))).toBe('加载中…')
})

test('shows every question with its options', async () => {
  const { page } = await openPoll({ [GET]: { poll: poll() } })
  expect(textsOf(page, '.question')).toEqual([
    '1. 是否同意加装电梯 （单选） A. 同意 B. 不同意',
    '2. 希望增加的设施 （多选） A. 充电桩 B. 健身器材 C. 快递柜',
    '3. 对保洁的满意度 （评分 1–5） 1 2 3 4 5',
    '4. 其他建议 （意见（选填））',
  ])
  expect(textOf(page, '#submit')).toBe('提交')
})

test('answering sends option indexes, ratings and text, then thanks', async () => {
  const { page, server } = await openPoll({
    [GET]: { poll: poll() },
    [PUT]: (request) => ({ poll: { ...poll(), answers: request.data.answers } }),
  })
  await tap(page, '.option', 0) // 1: A
  await tap(page, '.option', 2) // 2: A
  await tap(page, '.option', 4) // 2: C
  await tap(page, '.option', 2) // 2: A again: untick
  await tap(page, '.option', 8) // 3: rating 4
  await type(page, '.answer-text', '  希望尽快开工 ')
  expect(textsOf(page, '.option.on')).toEqual(['A. 同意', 'C. 快递柜', '4'])
  await tap(page, '#submit')
  expect(server.called('PUT', '/api/v1/polls/12/answers')[0].data).toEqual({ answers: { 1: 0, 2: [2], 3: 4, 4: '希望尽快开工' } })
  expect(wx.showToast).toHaveBeenCalledWith({ title: '已提交', icon: 'success' })
  expect(textOf(page, '#submit')).toBe('修改答案')
})

test('an unanswered question is named before anything is sent', async () => {
  const { page, server } = await openPoll({ [GET]: { poll: poll() } })
  await tap(page, '.option', 1)
  await tap(page, '#submit')
  expect(shownMessage()).toBe('请先回答第 2、3 题')
  expect(server.called('PUT', '/api/v1/polls/12/answers')).toEqual([])
})

test('earlier answers are shown and can be changed until the poll closes', async () => {
  const { page } = await openPoll({ [GET]: { poll: poll({ answers: { 1: 1, 2: [0, 1], 3: 5, 4: '无' } }) } })
  expect(textsOf(page, '.option.on')).toEqual(['B. 不同意', 'A. 充电桩', 'B. 健身器材', '5'])
  expect(textOf(page, '.intro')).toBe('加装电梯意见征集 11-30 18:00 截止 · 您已参与，截止前可修改')
  expect(textOf(page, '#submit')).toBe('修改答案')
})

test('a closed poll is read-only', async () => {
  const { page } = await openPoll({ [GET]: { poll: poll({ status: 'closed', answers: { 1: 0, 3: 4 } }) } })
  expect(textOf(page, '.why')).toBe('投票已结束，以下为您的答案。')
  expect(page.querySelector('#submit')).toBeUndefined()
  expect(textOf(page, '.given')).toBe('（未填写）')
  await tap(page, '.option', 1)
  expect(textsOf(page, '.option.on')).toEqual(['A. 同意', '4'])
})

test('a poll that closed while answering says so and turns read-only', async () => {
  const { page } = await openPoll({
    [GET]: { poll: poll({ answers: { 1: 0, 2: [1], 3: 3 } }) },
    [PUT]: [409, { error: { code: 'poll_closed', message: '投票已经结束。' } }],
  })
  await tap(page, '#submit')
  expect(shownMessage()).toBe('投票已经结束。')
  expect(textOf(page, '.why')).toBe('投票已结束，答案未能提交。')
  expect(page.querySelector('#submit')).toBeUndefined()
})

test('a poll for other households can be read but not answered', async () => {
  const { page } = await openPoll({ [GET]: { poll: poll({ invited: false }) } })
  expect(textOf(page, '.why')).toBe('这次投票不包括您的房屋，仅可查看。')
  expect(page.querySelector('#submit')).toBeUndefined()
})

test('a poll that cannot be loaded shows why', async () => {
  const { page } = await openPoll({ [GET]: [404, { error: { code: 'not_found', message: 'no such poll' } }] })
  expect(textOf(page, '.error')).toBe('no such poll')
})
