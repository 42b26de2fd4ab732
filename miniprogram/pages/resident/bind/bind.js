// Bind a room: the phone must match what the property office registered for that room (all
// 11 digits or the last 4). The server answers with a new token, so no second sign-in.
const api = require('../../../utils/api')
const auth = require('../../../utils/auth')

function confirm(content) {
  return new Promise((resolve) => {
    wx.showModal({
      title: '解除绑定',
      content,
      success: (res) => resolve(Boolean(res.confirm)),
      fail: () => resolve(false),
    })
  })
}

Component({
  data: {
    rooms: [], communities: [], communityIndex: 0, building: '', unit: '', room: '', phone: '',
    busy: false, error: '',
  },
  methods: {
    onLoad() {
      return this.load()
    },
    async load() {
      try {
        const [rooms, communities] = await Promise.all([
          api.call('myRooms'), api.call('bindingCommunities'),
        ])
        this.setData({ rooms: rooms.items, communities: communities.items, error: '' })
      } catch (err) {
        this.setData({ error: err.message })
      }
    },
    onInput(e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value.trim() })
    },
    pickCommunity(e) {
      this.setData({ communityIndex: Number(e.detail.value) })
    },
    async bind() {
      const { communities, communityIndex, building, unit, room, phone } = this.data
      const community = communities[communityIndex]
      if (!community || !building || !unit || !room || !phone) {
        return api.showError({ message: '请填写小区、楼号、单元、房号和手机号' })
      }
      if (this.data.busy) return undefined
      this.setData({ busy: true })
      try {
        const answer = await api.call('bind', { data: { community: community.code, building, unit, room, phone } })
        auth.saveSession(answer)
        wx.showToast({ title: answer.already ? '已绑定过' : '绑定成功', icon: 'success' })
        this.setData({ building: '', unit: '', room: '', phone: '' })
        await this.load()
      } catch (err) {
        api.showError(err)
      } finally {
        this.setData({ busy: false })
      }
      return undefined
    },
    async unbind(e) {
      const { id, address } = e.currentTarget.dataset
      if (!(await confirm(`确定解除 ${address} 的绑定？`))) return
      try {
        auth.saveSession(await api.call('unbind', { params: { room_id: id } }))
        wx.showToast({ title: '已解除绑定', icon: 'success' })
        await this.load()
      } catch (err) {
        api.showError(err)
      }
    },
  },
})
