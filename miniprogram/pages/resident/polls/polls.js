// Polls I am invited to: open ones first to answer, recently closed ones to look back on.
const api = require('../../../utils/api')
const { shortTime } = require('../../../utils/tasks')

function row(poll) {
  return {
    id: poll.id,
    title: poll.title,
    accepting: poll.accepting,
    stateName: poll.accepting ? '进行中' : '已结束',
    closesAt: shortTime(poll.closes_at),
    questions: poll.questions,
    mine: poll.answered ? '已参与' : poll.accepting ? '待参与' : '未参与',
  }
}

Component({
  data: { loading: true, error: '', items: [] },
  methods: {
    onLoad() {
      return this.load()
    },
    onShow() {
      // back from answering: "待参与" becomes "已参与"
      if (this.loaded) return this.load()
      return Promise.resolve()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      try {
        const answer = await api.call('myPolls')
        this.setData({ items: answer.items.map(row), error: '' })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.loaded = true
        this.setData({ loading: false })
      }
    },
    open(e) {
      wx.navigateTo({ url: `/pages/resident/poll/poll?id=${e.currentTarget.dataset.id}` })
    },
  },
})
