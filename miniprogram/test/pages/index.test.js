const { render, textOf, fire, tap } = require('../support/render')
const { fakeServer, signedInAs } = require('../support/server')

const PAGE = 'pages/index/index'

function signInAnswers(user) {
  return { 'POST /api/v1/auth/miniapp': { token: 'tok', expires_in: 7200, user } }
}

test('a guest is offered binding a room and signing in by phone', async () => {
  fakeServer(signInAnswers({ kind: 'guest', id: null, name: '', role: 'guest', phone: '' }))
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(textOf(page, '.menu')).toBe('绑定房屋')
  expect(textOf(page, '#phone-login')).toBe('用手机号登录')
})

test('staff see their tasks, leads also their team', async () => {
  signedInAs({ kind: 'staff', id: 3, name: '钱工', role: 'lead', phone: '136****0003' })
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(textOf(page, '.greeting')).toBe('钱工 员工 · 136****0003')
  expect(page.querySelectorAll('.entry').map((e) => e.dom.textContent)).toEqual(['我的任务', '团队任务'])
  await tap(page, '.entry')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/staff/tasks/tasks?scope=mine' })
})

test('residents get report, my repairs, notices, polls, fees and my rooms', async () => {
  signedInAs({ kind: 'resident', id: 5, name: '张伟', role: 'resident', phone: '138****1234' })
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(page.querySelectorAll('.entry').map((e) => e.dom.textContent)).toEqual(['我要报修', '我的报修', '社区通知', '投票问卷', '物业缴费', '我的房屋'])
  expect(page.querySelector('#phone-login')).toBeUndefined()
})

test('signing in by phone turns a guest into the resident the roster knows', async () => {
  const server = fakeServer(signInAnswers({ kind: 'resident', id: 5, name: '张伟', role: 'resident', phone: '138****1234' }))
  signedInAs({ kind: 'guest', id: null, name: '', role: 'guest', phone: '' })
  const page = render(PAGE)
  await page.instance.onLoad()
  await fire(page, '#phone-login', 'getphonenumber', { code: 'pc-1' })
  expect(server.calls[0].data).toEqual({ code: 'login-code', phone_code: 'pc-1' })
  expect(textOf(page, '.greeting')).toBe('张伟 住户 · 138****1234')
})

test('no network at sign-in says so and offers a retry', async () => {
  wx.request.mockImplementation((options) => options.fail({ errMsg: 'request:fail' }))
  const page = render(PAGE)
  await page.instance.onLoad()
  expect(textOf(page, '.error')).toBe('网络连接失败，请检查网络后重试 重试')
  fakeServer(signInAnswers({ kind: 'guest', id: null, name: '', role: 'guest', phone: '' }))
  await tap(page, '#retry')
  expect(textOf(page, '.menu')).toBe('绑定房屋')
})

test('coming back after binding shows the resident menu', async () => {
  signedInAs({ kind: 'guest', id: null, name: '', role: 'guest', phone: '' })
  const page = render(PAGE)
  await page.instance.onLoad()
  signedInAs({ kind: 'resident', id: 5, name: '张伟', role: 'resident', phone: '138****1234' }, 'resident-token')
  page.instance.onShow()
  expect(page.querySelectorAll('.entry').map((e) => e.dom.textContent)).toEqual(['我要报修', '我的报修', '社区通知', '投票问卷', '物业缴费', '我的房屋'])
})
