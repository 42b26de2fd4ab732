const { render, textOf, textsOf, tap, type, shownMessage } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')
const { RESIDENT, task } = require('../support/fixtures')

const PAGE = 'pages/resident/rate/rate'

async function open(routes) {
  signedInAs(RESIDENT)
  const server = fakeServer(routes)
  const page = render(PAGE)
  page.instance.onLoad({ ref: 'T1042' })
  return { page, server }
}

test('starts at five stars', async () => {
  const { page } = await open({})
  expect(textOf(page, '.word')).toBe('5 分 · 非常满意')
  expect(textsOf(page, '.star.on')).toHaveLength(5)
})

test('a low score warns that the repair goes back to the lead', async () => {
  const { page } = await open({})
  await tap(page, '.star', 1)
  expect(textOf(page, '.word')).toBe('2 分 · 不满意')
  expect(textOf(page, '.low')).toBe('评分 2 分及以下，报修将转交主管重新处理。')
})

test('submitting sends the score and comment, thanks, and goes back', async () => {
  const { page, server } = await open({ 'POST /api/v1/tasks/T1042/rate': task({ state: 'closed', score: 4 }) })
  await tap(page, '.star', 3)
  await type(page, '#comment', '师傅很准时')
  await tap(page, '#submit')
  expect(server.called('POST', '/api/v1/tasks/T1042/rate')[0].data).toEqual({ score: 4, comment: '师傅很准时' })
  expect(wx.showToast).toHaveBeenCalledWith({ title: '感谢您的评价', icon: 'success' })
  expect(wx.navigateBack).toHaveBeenCalled()
})

test('a repair already rated shows why and stays', async () => {
  const { page } = await open({ 'POST /api/v1/tasks/T1042/rate': [409, { error: { code: 'wrong_state', message: '任务当前状态不允许这个操作。' } }] })
  await tap(page, '#submit')
  expect(shownMessage()).toBe('任务当前状态不允许这个操作。')
  expect(wx.navigateBack).not.toHaveBeenCalled()
})
