const tasks = require('../../utils/tasks')

test('states read as the server labels them', () => {
  expect(tasks.stateName('on_site')).toBe('已到场')
  expect(tasks.stateName('reopened')).toBe('重新处理')
  expect(tasks.stateName('something_new')).toBe('something_new')
})

test('times show as month-day hour:minute in the business time zone the server sent', () => {
  expect(tasks.shortTime('2026-11-26T09:05:00+08:00')).toBe('11-26 09:05')
  expect(tasks.shortTime(null)).toBe('')
})

test('progress marks the steps done so far', () => {
  const steps = tasks.progress('accepted')
  expect(steps.filter((s) => s.done).map((s) => s.title)).toEqual(['提交', '派单', '接单'])
  expect(steps.find((s) => s.current).title).toBe('接单')
  expect(tasks.progress('cancelled').some((s) => s.done)).toBe(false)
})

test('instructions and rework reasons stand out in the timeline with their text', () => {
  const [assign, rework] = tasks.timelineRows([
    { action: 'assign', from: 'submitted', to: 'assigned', actor_name: '系统', note: '', at: '2026-11-26T09:00:00+08:00' },
    { action: 'rework', from: 'completed', to: 'reopened', actor_name: '赵敏', note: '墙面仍有水渍', at: '2026-11-27T10:00:00+08:00' },
  ])
  expect(assign).toMatchObject({ title: '派单', attention: false, state: '已派单' })
  expect(rework).toMatchObject({ title: '要求返工', attention: true, note: '墙面仍有水渍', who: '赵敏' })
})

test('the assignee gets the next step of their own task only', () => {
  const me = { kind: 'staff', id: 7, role: 'staff' }
  const task = (state, assigneeId = 7) => ({ state, assignee: { id: assigneeId } })
  expect(tasks.staffActions(task('assigned'), me)).toMatchObject({ accept: true, checkIn: false, complete: false })
  expect(tasks.staffActions(task('accepted'), me)).toMatchObject({ accept: false, checkIn: true, photo: true })
  expect(tasks.staffActions(task('on_site'), me)).toMatchObject({ complete: true, photo: true })
  expect(tasks.staffActions(task('assigned', 8), me)).toMatchObject({ accept: false, instruct: false })
})

test('leads may instruct open tasks and order rework of completed ones', () => {
  const lead = { kind: 'staff', id: 1, role: 'lead' }
  expect(tasks.staffActions({ state: 'on_site', assignee: { id: 7 } }, lead)).toMatchObject({ instruct: true, rework: false })
  expect(tasks.staffActions({ state: 'completed', assignee: { id: 7 } }, lead)).toMatchObject({ rework: true })
  expect(tasks.staffActions({ state: 'closed', assignee: { id: 7 } }, lead)).toMatchObject({ instruct: false, rework: false })
})

test('residents may urge open repairs, cancel unstarted ones and rate completed ones', () => {
  expect(tasks.residentActions({ state: 'assigned' })).toEqual({ urge: true, cancel: true, rate: false })
  expect(tasks.residentActions({ state: 'on_site' })).toEqual({ urge: true, cancel: false, rate: false })
  expect(tasks.residentActions({ state: 'completed' })).toEqual({ urge: false, cancel: false, rate: true })
})
