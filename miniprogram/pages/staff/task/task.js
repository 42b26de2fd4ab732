// One task for staff: details, timeline (instructions and rework reasons stand out), and the
// next step: accept, check in on site, add photos, complete; leads also instruct and order rework.
const api = require('../../../utils/api')
const auth = require('../../../utils/auth')
const subscribe = require('../../../utils/subscribe')
const { staffActions, shortTime } = require('../../../utils/tasks')

const MAX_PHOTOS_PER_PICK = 9 // wx.chooseMedia's count limit

// GCJ-02 is what the server's geofence uses (community centres are GCJ-02, CONTRACT.md).
function locate() {
  return new Promise((resolve, reject) => {
    wx.getLocation({
      type: 'gcj02',
      isHighAccuracy: true,
      success: resolve,
      fail: () => reject(new api.ApiError('refused', '无法获取位置，请在设置中允许使用位置信息后重试')),
    })
  })
}

function pickPhotos() {
  return new Promise((resolve) => {
    wx.chooseMedia({
      count: MAX_PHOTOS_PER_PICK,
      mediaType: ['image'],
      sourceType: ['camera', 'album'],
      sizeType: ['compressed'],
      success: (res) => resolve(res.tempFiles.map((file) => file.tempFilePath)),
      fail: () => resolve([]), // cancelled
    })
  })
}

Component({
  data: {
    ref: '', task: null, deadlines: [], can: {}, photos: [], note: '', instruction: '', reworkReason: '',
    busy: false, error: '',
  },
  methods: {
    onLoad(query) {
      this.setData({ ref: query.ref })
      return this.load()
    },
    async load() {
      try {
        this.show(await api.call('getTask', { params: { ref: this.data.ref } }))
      } catch (err) {
        this.setData({ error: err.message })
      }
    },
    show(task) {
      const deadlines = [
        ['响应', task.respond_by], ['到场', task.arrive_by], ['完成', task.resolve_by],
      ].filter((pair) => pair[1]).map((pair) => `${pair[0]} ${shortTime(pair[1])}`)
      this.setData({ task, deadlines, can: staffActions(task, auth.currentUser()), error: '' })
      return this.loadPhotos(task.photo_ids || [])
    },
    async loadPhotos(ids) {
      // <image> cannot send our token: download each photo with it, show the local copy
      const photos = []
      for (const id of ids) {
        try {
          photos.push(await api.call('photo', { params: { photo_id: id } }))
        } catch (err) {
          // a photo that fails to load is left out; the count in the timeline still shows it
        }
      }
      this.setData({ photos })
    },
    async run(action, done) {
      if (this.data.busy) return
      this.setData({ busy: true })
      try {
        await this.show(await action())
        if (done) wx.showToast({ title: done, icon: 'success' })
      } catch (err) {
        api.showError(err)
      } finally {
        this.setData({ busy: false })
      }
    },
    async accept() {
      await subscribe.askFor('accept') // first, inside the tap: WeChat allows the ask only there
      return this.run(() => api.call('accept', { params: { ref: this.data.ref } }), '已接单')
    },
    checkIn() {
      return this.run(async () => {
        const spot = await locate()
        return api.call('checkIn', {
          params: { ref: this.data.ref },
          data: { lat: spot.latitude, lng: spot.longitude, accuracy: spot.accuracy },
        })
      }, '已签到')
    },
    addPhotos() {
      return this.run(async () => {
        const paths = await pickPhotos()
        for (const filePath of paths) {
          await api.call('uploadPhoto', { params: { ref: this.data.ref }, filePath })
        }
        return api.call('getTask', { params: { ref: this.data.ref } })
      })
    },
    complete() {
      const note = this.data.note.trim()
      return this.run(() => api.call('complete', { params: { ref: this.data.ref }, data: { note } }), '已完工')
    },
    instruct() {
      const text = this.data.instruction.trim()
      if (!text) return api.showError({ message: '请填写指示内容' })
      return this.run(async () => {
        const task = await api.call('instruct', { params: { ref: this.data.ref }, data: { text } })
        this.setData({ instruction: '' })
        return task
      }, '已下达')
    },
    rework() {
      const reason = this.data.reworkReason.trim()
      if (!reason) return api.showError({ message: '请填写返工原因' })
      return this.run(async () => {
        const task = await api.call('rework', { params: { ref: this.data.ref }, data: { reason } })
        this.setData({ reworkReason: '' })
        return task
      }, '已要求返工')
    },
    onInput(e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    preview(e) {
      wx.previewImage({ urls: this.data.photos, current: e.currentTarget.dataset.src })
    },
  },
})
