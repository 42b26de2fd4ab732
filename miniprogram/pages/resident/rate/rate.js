// Rate a finished repair 1-5 with a comment; 2 or less sends it back to the department lead.
const api = require('../../../utils/api')

const SCORE_WORDS = ['', '很不满意', '不满意', '一般', '满意', '非常满意']
const LOW_SCORE = 2 // the repair process reopens a task rated this or lower (config/processes/repair.yaml)

function starsFor(score) {
  return [1, 2, 3, 4, 5].map((value) => ({ value, on: value <= score }))
}

Component({
  data: { ref: '', score: 5, stars: starsFor(5), word: SCORE_WORDS[5], low: false, comment: '', busy: false },
  methods: {
    onLoad(query) {
      this.setData({ ref: query.ref })
    },
    pick(e) {
      const score = Number(e.currentTarget.dataset.score)
      this.setData({ score, stars: starsFor(score), word: SCORE_WORDS[score], low: score <= LOW_SCORE })
    },
    onComment(e) {
      this.setData({ comment: e.detail.value })
    },
    async submit() {
      if (this.data.busy) return
      this.setData({ busy: true })
      try {
        const { ref, score, comment } = this.data
        await api.call('rate', { params: { ref }, data: { score, comment: comment.trim() } })
        wx.showToast({ title: '感谢您的评价', icon: 'success' })
        wx.navigateBack()
      } catch (err) {
        api.showError(err)
      } finally {
        this.setData({ busy: false })
      }
    },
  },
})
