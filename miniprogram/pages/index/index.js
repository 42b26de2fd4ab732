// Home: signs in, then offers what this person can do (staff, resident, or a guest who binds).
const api = require('../../utils/api')
const auth = require('../../utils/auth')

const KIND_NAMES = { staff: '员工', resident: '住户', guest: '访客' }

function entriesFor(user) {
  if (user.kind === 'staff') {
    const entries = [{ title: '我的任务', url: '/pages/staff/tasks/tasks?scope=mine' }]
    if (auth.isLead(user)) entries.push({ title: '团队任务', url: '/pages/staff/tasks/tasks?scope=team' })
    return entries
  }
  if (user.kind === 'resident') {
    return [
      { title: '我要报修', url: '/pages/resident/report/report' },
      { title: '我的报修', url: '/pages/resident/repairs/repairs' },
      { title: '社区通知', url: '/pages/resident/notices/notices' },
      { title: '投票问卷', url: '/pages/resident/polls/polls' },
      { title: '物业缴费', url: '/pages/resident/fees/fees' },
      { title: '我的房屋', url: '/pages/resident/bind/bind' },
    ]
  }
  return [{ title: '绑定房屋', url: '/pages/resident/bind/bind' }]
}

Component({
  data: { loading: true, error: '', user: null, kindName: '', entries: [], guest: false },
  methods: {
    onLoad() {
      return this.start(() => auth.ensureSignedIn())
    },
    onShow() {
      // binding elsewhere swaps the token: show the menu of whoever is signed in now
      const user = auth.currentUser()
      if (user && this.data.user && user.kind !== this.data.user.kind) this.show(user)
    },
    async start(signIn) {
      this.setData({ loading: true, error: '' })
      try {
        this.show(await signIn())
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    show(user) {
      this.setData({
        user, kindName: KIND_NAMES[user.kind] || '', entries: entriesFor(user), guest: user.kind === 'guest',
      })
    },
    retry() {
      return this.start(() => auth.signIn())
    },
    open(e) {
      wx.navigateTo({ url: e.currentTarget.dataset.url })
    },
    // <button open-type="getPhoneNumber">: WeChat gives a one-time code, never the number itself.
    onPhone(e) {
      const code = e.detail && e.detail.code
      if (!code) {
        api.showError({ message: '未获取手机号，可先绑定房屋' })
        return Promise.resolve()
      }
      return this.start(() => auth.signIn(code))
    },
  },
})
