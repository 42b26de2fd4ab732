// My repairs, newest first, each with how far it has got.
const api = require('../../../utils/api')
const { progress, summary, shortTime } = require('../../../utils/tasks')

function row(task) {
  const steps = progress(task.state)
  return {
    ref: task.ref,
    summary: summary(task),
    description: task.description,
    stateName: task.state_name,
    steps,
    percent: Math.round((100 * steps.filter((step) => step.done).length) / steps.length),
    createdAt: shortTime(task.created_at),
    toRate: task.state === 'completed',
  }
}

Component({
  data: { loading: true, error: '', items: [] },
  methods: {
    onLoad() {
      return this.load()
    },
    onShow() {
      if (this.loaded) return this.load()
      return Promise.resolve()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      try {
        const answer = await api.call('listTasks', { query: { scope: 'mine' } })
        this.setData({ items: answer.items.map(row), error: '' })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.loaded = true
        this.setData({ loading: false })
      }
    },
    open(e) {
      wx.navigateTo({ url: `/pages/resident/repair/repair?ref=${e.currentTarget.dataset.ref}` })
    },
    report() {
      wx.navigateTo({ url: '/pages/resident/report/report' })
    },
  },
})
