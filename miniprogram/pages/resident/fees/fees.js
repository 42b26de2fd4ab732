// My fees: per bound room, what is outstanding per item, what is overdue, and every row.
// Paying is not done here: the page says how to pay (utils/fees.js HOW_TO_PAY).
const api = require('../../../utils/api')
const { HOW_TO_PAY, statementView } = require('../../../utils/fees')

Component({
  data: { loading: true, error: '', rooms: [], roomIndex: 0, fees: null, howToPay: HOW_TO_PAY },
  methods: {
    onLoad() {
      return this.load()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      this.setData({ loading: true, error: '' })
      try {
        const answer = await api.call('myRooms')
        this.setData({ rooms: answer.items, roomIndex: Math.min(this.data.roomIndex, Math.max(answer.items.length - 1, 0)) })
        if (answer.items.length) await this.loadFees()
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    async loadFees() {
      const room = this.data.rooms[this.data.roomIndex]
      const statement = await api.call('roomFees', { params: { room_id: room.room_id } })
      this.setData({ fees: statementView(statement) })
    },
    async pickRoom(e) {
      const roomIndex = Number(e.currentTarget.dataset.index)
      if (roomIndex === this.data.roomIndex) return
      this.setData({ roomIndex, fees: null, loading: true, error: '' })
      try {
        await this.loadFees()
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ loading: false })
      }
    },
    bind() {
      wx.navigateTo({ url: '/pages/resident/bind/bind' })
    },
  },
})
