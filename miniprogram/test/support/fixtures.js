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
