// A task's event trail, newest last: who did what when, with instructions, rework reasons and
// low ratings highlighted so the worker sees what is asked of them.
const { timelineRows } = require('../../utils/tasks')

Component({
  properties: {
    events: { type: Array, value: [] },
  },
  data: { rows: [] },
  observers: {
    events(events) {
      this.setData({ rows: timelineRows(events) })
    },
  },
})
