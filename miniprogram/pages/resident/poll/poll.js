// Answer a poll: every question on one page (single, multiple, rating 1-5, free text). Answers
// can be changed and sent again until the poll closes; after that the page is read-only.
const api = require('../../../utils/api')
const polls = require('../../../utils/polls')
const { shortTime } = require('../../../utils/tasks')

Component({
  data: {
    id: '', loading: true, error: '', title: '', closesAt: '', form: [], answered: false,
    readOnly: true, why: '', busy: false, textMax: polls.TEXT_MAX,
  },
  methods: {
    async onLoad(query) {
      this.setData({ id: query.id })
      try {
        const answer = await api.call('getPoll', { params: { poll_id: query.id } })
        this.show(answer.poll)
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    show(poll) {
      this.questions = poll.questions
      this.answers = { ...(poll.answers || {}) }
      const invited = poll.invited !== false
      const open = polls.isOpen(poll)
      this.setData({
        title: poll.title,
        closesAt: shortTime(poll.closes_at),
        form: polls.formOf(this.questions, this.answers),
        answered: Object.keys(this.answers).length > 0,
        readOnly: !invited || !open,
        why: !invited ? '这次投票不包括您的房屋，仅可查看。' : open ? '' : '投票已结束，以下为您的答案。',
      })
    },
    choose(e) {
      if (this.data.readOnly) return
      const { number, index } = e.currentTarget.dataset
      const question = this.questions[Number(number) - 1]
      this.answers = polls.choose(this.answers, question, `${number}`, Number(index))
      this.setData({ form: polls.formOf(this.questions, this.answers) })
    },
    onText(e) {
      this.answers = { ...this.answers, [`${e.currentTarget.dataset.number}`]: e.detail.value }
    },
    async submit() {
      if (this.data.busy || this.data.readOnly) return
      const missing = polls.missing(this.questions, this.answers)
      if (missing.length) {
        api.showError({ message: `请先回答第 ${missing.join('、')} 题` })
        return
      }
      this.setData({ busy: true })
      try {
        const answers = polls.payload(this.questions, this.answers)
        const answer = await api.call('answerPoll', { params: { poll_id: this.data.id }, data: { answers } })
        this.show({ ...answer.poll, invited: true })
        wx.showToast({ title: '已提交', icon: 'success' })
      } catch (err) {
        api.showError(err)
        if (err.status === 409) this.setData({ readOnly: true, why: '投票已结束，答案未能提交。' })
      } finally {
        this.setData({ busy: false })
      }
    },
  },
})
