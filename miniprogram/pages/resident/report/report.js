// Report a repair: where (one of my rooms, or a shared area of my community, optionally picked on
// the map), what kind, a description, photos. Subscribe consent is asked first, in the tap.
const api = require('../../../utils/api')
const subscribe = require('../../../utils/subscribe')
const { CATEGORIES } = require('../../../utils/tasks')

const MAX_PHOTOS = 6

// One picker entry per bound room, then one "shared area" entry per community.
function placesOf(rooms) {
  const places = rooms.map((room) => ({ label: room.address, room }))
  const seen = {}
  rooms.forEach((room) => {
    if (seen[room.community]) return
    seen[room.community] = true
    places.push({ label: `${room.community_name} 公共区域`, community: room.community })
  })
  return places
}

function bodyOf(data) {
  const where = data.places[data.placeIndex]
  const body = {
    category: CATEGORIES[data.categoryIndex].code,
    urgency: data.urgent ? 'urgent' : 'normal',
    description: data.description.trim(),
  }
  if (data.visitTime.trim()) body.visit_time = data.visitTime.trim()
  if (where.room) {
    const { community, building, unit, room } = where.room
    return Object.assign(body, { community, building, unit, room })
  }
  return Object.assign(body, { community: where.community, place: data.place.trim() })
}

function pickPhotos(count) {
  return new Promise((resolve) => {
    wx.chooseMedia({
      count, mediaType: ['image'], sourceType: ['camera', 'album'], sizeType: ['compressed'],
      success: (res) => resolve(res.tempFiles.map((file) => file.tempFilePath)),
      fail: () => resolve([]),
    })
  })
}

Component({
  data: {
    loading: true, error: '', places: [], placeIndex: 0, shared: false, categories: CATEGORIES, categoryIndex: 0,
    urgent: false, description: '', visitTime: '', place: '', photos: [], busy: false,
  },
  methods: {
    async onLoad() {
      try {
        const rooms = await api.call('myRooms')
        const places = placesOf(rooms.items)
        this.setData({ places, shared: Boolean(places.length && !places[0].room) })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    pickPlace(e) {
      const placeIndex = Number(e.detail.value)
      this.setData({ placeIndex, shared: !this.data.places[placeIndex].room })
    },
    pickCategory(e) {
      this.setData({ categoryIndex: Number(e.detail.value) })
    },
    toggleUrgent(e) {
      this.setData({ urgent: Boolean(e.detail.value) })
    },
    onInput(e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    chooseLocation() {
      // Optional: a shared-area report may name the spot from the map (GCJ-02 picker).
      wx.chooseLocation({
        success: (res) => this.setData({ place: (res.name || res.address || '').slice(0, 64) }),
      })
    },
    async addPhotos() {
      const paths = await pickPhotos(MAX_PHOTOS - this.data.photos.length)
      this.setData({ photos: this.data.photos.concat(paths).slice(0, MAX_PHOTOS) })
    },
    removePhoto(e) {
      this.setData({ photos: this.data.photos.filter((path) => path !== e.currentTarget.dataset.src) })
    },
    goBind() {
      wx.navigateTo({ url: '/pages/resident/bind/bind' })
    },
    async submit() {
      const where = this.data.places[this.data.placeIndex]
      if (!this.data.description.trim()) return api.showError({ message: '请描述一下问题' })
      if (where && !where.room && !this.data.place.trim()) return api.showError({ message: '请填写公共区域的具体位置' })
      if (this.data.busy) return undefined
      await subscribe.askFor('report') // first, inside the tap: WeChat allows the ask only there
      this.setData({ busy: true })
      try {
        const task = await api.call('createTask', { data: bodyOf(this.data) })
        let failed = 0
        for (const filePath of this.data.photos) {
          try {
            await api.call('uploadPhoto', { params: { ref: task.ref }, filePath })
          } catch (err) {
            failed += 1
          }
        }
        wx.showToast({ title: failed ? `已提交，${failed} 张照片未上传` : '已提交', icon: failed ? 'none' : 'success' })
        wx.redirectTo({ url: `/pages/resident/repair/repair?ref=${task.ref}` })
      } catch (err) {
        api.showError(err)
      } finally {
        this.setData({ busy: false })
      }
      return undefined
    },
  },
})
