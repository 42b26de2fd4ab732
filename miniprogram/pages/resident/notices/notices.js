// Notices sent to me, newest first; outages and emergencies stand out. Tap one to read it all.
const api = require('../../../utils/api')
const { noticeView } = require('../../../utils/notices')

Component({
  data: { loading: true, error: '', items: [] },
  methods: {
    onLoad() {
      return this.load()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      try {
        const answer = await api.call('myNotices')
        this.setData({ items: answer.items.map(noticeView), error: '' })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    open(e) {
      wx.navigateTo({ url: `/pages/resident/notice/notice?id=${e.currentTarget.dataset.id}` })
    },
  },
})
