// One of my repairs: progress, who handles it, the timeline; urge, cancel, or rate when done.
const api = require('../../../utils/api')
const { progress, residentActions } = require('../../../utils/tasks')

function askReason() {
  return new Promise((resolve) => {
    wx.showModal({
      title: '取消报修', editable: true, placeholderText: '取消原因（选填）',
      success: (res) => resolve(res.confirm ? { reason: res.content || '' } : null),
      fail: () => resolve(null),
    })
  })
}

Component({
  data: { ref: '', task: null, steps: [], can: {}, photos: [], busy: false, error: '' },
  methods: {
    onLoad(query) {
      this.setData({ ref: query.ref })
      return this.load()
    },
    onShow() {
      // back from the rating page
      if (this.data.task) return this.load()
      return Promise.resolve()
    },
    async load() {
      try {
        this.show(await api.call('getTask', { params: { ref: this.data.ref } }))
      } catch (err) {
        this.setData({ error: err.message })
      }
    },
    async show(task) {
      this.setData({ task, steps: progress(task.state), can: residentActions(task), error: '' })
      const photos = []
      for (const id of task.photo_ids || []) {
        try {
          photos.push(await api.call('photo', { params: { photo_id: id } }))
        } catch (err) {
          // left out; the rest still show
        }
      }
      this.setData({ photos })
    },
    async run(action, done) {
      if (this.data.busy) return
      this.setData({ busy: true })
      try {
        await this.show(await action())
        wx.showToast({ title: done, icon: 'success' })
      } catch (err) {
        api.showError(err)
      } finally {
        this.setData({ busy: false })
      }
    },
    urge() {
      return this.run(() => api.call('urge', { params: { ref: this.data.ref } }), '已催办')
    },
    async cancel() {
      const answer = await askReason()
      if (!answer) return
      await this.run(() => api.call('cancel', { params: { ref: this.data.ref }, data: answer }), '已取消')
    },
    rate() {
      wx.navigateTo({ url: `/pages/resident/rate/rate?ref=${this.data.ref}` })
    },
  },
})
