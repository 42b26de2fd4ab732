// Staff task list by status (tabs): my tasks, or my department's for leads.
const api = require('../../../utils/api')
const { STAFF_TABS, summary, shortTime } = require('../../../utils/tasks')

function row(task) {
  return {
    ref: task.ref,
    summary: summary(task),
    description: task.description,
    stateName: task.state_name,
    urgent: task.urgency === 'urgent',
    deadline: task.resolve_by ? `${shortTime(task.resolve_by)} 前完成` : '',
  }
}

Component({
  data: { tabs: STAFF_TABS, active: 0, scope: 'mine', items: [], loading: false, error: '' },
  methods: {
    onLoad(query) {
      const scope = (query && query.scope) || 'mine'
      wx.setNavigationBarTitle({ title: scope === 'team' ? '团队任务' : '我的任务' })
      this.setData({ scope })
      return this.load()
    },
    onShow() {
      // back from a task page: its state may have changed
      if (this.loaded) return this.load()
      return Promise.resolve()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      const tab = this.data.tabs[this.data.active]
      this.setData({ loading: true, error: '' })
      try {
        const answer = await api.call('listTasks', { query: { scope: this.data.scope, status: tab.status } })
        this.setData({ items: answer.items.map(row) })
      } catch (err) {
        this.setData({ items: [], error: err.message })
      } finally {
        this.loaded = true
        this.setData({ loading: false })
      }
    },
    switchTab(e) {
      this.setData({ active: Number(e.currentTarget.dataset.index) })
      return this.load()
    },
    open(e) {
      wx.navigateTo({ url: `/pages/staff/task/task?ref=${e.currentTarget.dataset.ref}` })
    },
  },
})
