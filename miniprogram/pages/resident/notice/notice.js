// One notice in full. Residents read notices through their list (GET /api/v1/me/notices), so
// the page finds it there: always what was sent to this person, never someone else's.
const api = require('../../../utils/api')
const { noticeView } = require('../../../utils/notices')

Component({
  data: { loading: true, error: '', notice: null },
  methods: {
    async onLoad(query) {
      try {
        const answer = await api.call('myNotices')
        const found = answer.items.find((n) => `${n.id}` === `${query.id}`)
        if (found) this.setData({ notice: noticeView(found) })
        else this.setData({ error: '这条通知已不在您的通知列表中' })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
  },
})
