// What the pages show about a task: status words, categories, progress, timeline rows, and
// which buttons a person gets. Words match the server's templates_msg/labels.yaml.

const STATE_NAMES = {
  submitted: '已提交',
  assigned: '已派单',
  accepted: '已接单',
  on_site: '已到场',
  completed: '已完成',
  closed: '已关闭',
  cancelled: '已取消',
  reopened: '重新处理',
}

// The order of the report form's picker; codes are the server's task categories.
const CATEGORIES = [
  { code: 'water', name: '水管漏水' },
  { code: 'drains', name: '下水堵塞' },
  { code: 'electricity', name: '电路故障' },
  { code: 'lights', name: '照明' },
  { code: 'elevator', name: '电梯' },
  { code: 'doors', name: '门窗门禁' },
  { code: 'gas', name: '燃气' },
  { code: 'structure', name: '墙面屋顶' },
  { code: 'public_area', name: '公共区域' },
  { code: 'cleaning', name: '保洁' },
  { code: 'security', name: '安保' },
  { code: 'parking', name: '停车' },
  { code: 'noise', name: '噪音' },
  { code: 'other', name: '其他' },
]

const ACTION_NAMES = {
  submit: '提交报修',
  assign: '派单',
  reassign: '改派',
  accept: '接单',
  check_in: '到场签到',
  complete: '完工',
  rate: '评价',
  rate_low: '不满意，转主管处理',
  close_unrated: '超时未评价，自动关闭',
  rework: '要求返工',
  instruct: '领导指示',
  urge: '催办',
  cancel: '取消',
  visit_time: '预约上门时间',
  unrouted: '待人工派单',
  sla_warning: '即将超时',
  sla_breach: '已超时',
}

// Events a worker must read and act on: shown highlighted in the timeline.
const ATTENTION = ['instruct', 'rework', 'rate_low', 'urge', 'sla_warning', 'sla_breach']

// Staff list tabs: each asks GET /api/v1/tasks?status=...
const STAFF_TABS = [
  { title: '待接单', status: 'assigned' },
  { title: '处理中', status: 'accepted,on_site' },
  { title: '返工', status: 'reopened' },
  { title: '已完成', status: 'completed,closed' },
]

const PROGRESS_STEPS = ['提交', '派单', '接单', '到场', '完工', '评价']
const STEP_OF_STATE = { submitted: 0, assigned: 1, reopened: 1, accepted: 2, on_site: 3, completed: 4, closed: 5 }

function stateName(state) {
  return STATE_NAMES[state] || state
}

// "2026-11-26T09:05:00+08:00" -> "11-26 09:05": the server sends business-local times.
function shortTime(iso) {
  return iso ? iso.slice(5, 16).replace('T', ' ') : ''
}

// For a resident's progress bar: steps with done/current flags; cancelled shows no step.
function progress(state) {
  const at = state in STEP_OF_STATE ? STEP_OF_STATE[state] : -1
  return PROGRESS_STEPS.map((title, index) => ({ title, done: index <= at, current: index === at }))
}

function timelineRows(events) {
  return (events || []).map((event, index) => ({
    key: `${index}`,
    title: ACTION_NAMES[event.action] || event.action,
    who: event.actor_name || '',
    time: shortTime(event.at),
    note: event.note || '',
    state: event.to && event.to !== event.from ? stateName(event.to) : '',
    attention: ATTENTION.includes(event.action),
  }))
}

// One line for lists: "T1042 · 水管漏水 · 5号楼2单元302".
function summary(task) {
  return [task.ref, task.category_name, task.place].filter(Boolean).join(' · ')
}

function staffActions(task, user) {
  const mine = Boolean(user && user.kind === 'staff' && task.assignee && task.assignee.id === user.id)
  const lead = Boolean(user && user.kind === 'staff' && ['lead', 'manager'].includes(user.role))
  return {
    accept: mine && task.state === 'assigned',
    checkIn: mine && task.state === 'accepted',
    photo: mine && ['accepted', 'on_site'].includes(task.state),
    complete: mine && task.state === 'on_site',
    instruct: lead && !['closed', 'cancelled'].includes(task.state),
    rework: lead && task.state === 'completed',
  }
}

function residentActions(task) {
  return {
    urge: ['submitted', 'assigned', 'accepted', 'on_site', 'reopened'].includes(task.state),
    cancel: ['submitted', 'assigned', 'accepted'].includes(task.state),
    rate: task.state === 'completed',
  }
}

module.exports = {
  STATE_NAMES, CATEGORIES, ACTION_NAMES, STAFF_TABS, PROGRESS_STEPS,
  stateName, shortTime, progress, timelineRows, summary, staffActions, residentActions,
}
