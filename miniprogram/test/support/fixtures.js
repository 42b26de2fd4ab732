// Server answers as GET /api/v1/tasks/{ref} gives them (see server/api/tasks.py task_json).
const STAFF = { kind: 'staff', id: 7, name: '王强', role: 'staff', phone: '136****0001' }
const LEAD = { kind: 'staff', id: 3, name: '钱工', role: 'lead', phone: '136****0003' }
const RESIDENT = { kind: 'resident', id: 5, name: '张伟', role: 'resident', phone: '138****1234' }

const STATE_NAMES = {
  submitted: '已提交', assigned: '已派单', accepted: '已接单', on_site: '已到场',
  completed: '已完成', closed: '已关闭', cancelled: '已取消', reopened: '重新处理',
}

function event(action, from, to, actorName, note, at) {
  return { action, from, to, actor: 'staff', actor_name: actorName, note, lat: null, lng: null, photo_ids: [], data: {}, at }
}

function task(overrides = {}) {
  const state = overrides.state || 'assigned'
  return {
    ref: 'T1042', kind: 'repair', state, state_name: STATE_NAMES[state], category: 'water',
    category_name: '水管漏水', urgency: 'normal', community: 'alpha', place: '5号楼2单元302',
    description: '卫生间水管漏水', visit_time: '', source: 'miniapp', department: 'eng',
    assignee: { id: 7, name: '王强' }, respond_by: '2026-11-26T11:00:00+08:00',
    arrive_by: '2026-11-27T09:00:00+08:00', resolve_by: '2026-11-29T09:00:00+08:00',
    accepted_at: null, on_site_at: null, arrived_late: false, completed_at: null, closed_at: null,
    score: null, rating_comment: null, created_at: '2026-11-26T09:00:00+08:00',
    updated_at: '2026-11-26T09:00:00+08:00',
    events: [
      event('submit', '', 'submitted', '张伟', '卫生间水管漏水', '2026-11-26T09:00:00+08:00'),
      event('assign', 'submitted', 'assigned', '系统', '', '2026-11-26T09:00:01+08:00'),
    ],
    photo_ids: [],
    ...overrides,
  }
}

module.exports = { STAFF, LEAD, RESIDENT, STATE_NAMES, event, task }

// GET /api/v1/me/notices, /api/v1/me/polls, /api/v1/polls/{id}, /api/v1/rooms/{id}/fees
function notice(overrides = {}) {
  return {
    id: 31, kind: 'water_outage', kind_name: '停水通知', title: '停水通知', summary: '明天9:00-12:00停水',
    body: '明天9:00-12:00停水，请提前储水', urgent: true, sent_at: '2026-11-26T15:00:00+08:00', ...overrides,
  }
}

const POLL_QUESTIONS = [
  { kind: 'single', text: '是否同意加装电梯', options: ['同意', '不同意'] },
  { kind: 'multiple', text: '希望增加的设施', options: ['充电桩', '健身器材', '快递柜'] },
  { kind: 'rating', text: '对保洁的满意度', options: [] },
  { kind: 'text', text: '其他建议', options: [] },
]

function poll(overrides = {}) {
  return {
    id: 12, community_id: 1, title: '加装电梯意见征集', questions: POLL_QUESTIONS, vote_per: 'household',
    status: 'open', opens_at: '2026-11-20T09:00:00+08:00', closes_at: '2026-11-30T18:00:00+08:00',
    owner_id: 3, answers: {}, invited: true, ...overrides,
  }
}

function myPoll(overrides = {}) {
  return {
    id: 12, title: '加装电梯意见征集', status: 'open', opens_at: '2026-11-20T09:00:00+08:00',
    closes_at: '2026-11-30T18:00:00+08:00', questions: 4, answered: false, accepting: true, ...overrides,
  }
}

function room(overrides = {}) {
  return {
    room_id: 17, community: 'alpha', community_name: '翠苑小区', building: '5', unit: '2', room: '302',
    address: '翠苑小区 5号楼2单元302', relation: 'owner', ...overrides,
  }
}

function statement(overrides = {}) {
  return {
    room: 17, state: 'overdue_below_threshold', overdue_months: 1, credit: '0.00',
    balances: [
      { item: 'property_fee', item_name: '物业费', outstanding: '537.00', overdue: '268.50', oldest_overdue: '2026-10-31', open_periods: ['2026-10', '2026-11'] },
      { item: 'parking_fee', item_name: '停车费', outstanding: '0.00', overdue: '0.00', oldest_overdue: null, open_periods: [] },
    ],
    rows: [
      { period: '2026-10', item: 'property_fee', amount_due: '268.50', amount_paid: '0.00', due_date: '2026-10-31', overdue: true },
      { period: '2026-10', item: 'parking_fee', amount_due: '300.00', amount_paid: '300.00', due_date: '2026-10-31', overdue: false },
      { period: '2026-11', item: 'property_fee', amount_due: '268.50', amount_paid: '0.00', due_date: '2026-11-30', overdue: false },
    ],
    ...overrides,
  }
}

Object.assign(module.exports, { notice, POLL_QUESTIONS, poll, myPoll, room, statement })
