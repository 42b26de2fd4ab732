// A room's fee statement (GET /api/v1/rooms/{room_id}/fees, docs/fees.md) as the fees page shows
// it. Amounts arrive as decimal strings ("1280.00") and are shown as they came: no float maths.
// Words match the server's templates_msg/labels.yaml (arrears_state, fee_item).

const STATE_NAMES = {
  clear: '已缴清',
  due: '待缴（未逾期）',
  overdue_below_threshold: '已逾期',
  overdue: '逾期较久',
}

// Paying happens outside the mini-program (issue 10): at the service desk or through whatever
// payment system the estate uses, which books it here by itself.
const HOW_TO_PAY = '小程序内暂不支持缴费。请到物业服务中心前台缴纳，或使用物业提供的缴费渠道；缴费入账后此页自动更新。'

function isZero(amount) {
  return !amount || Number(amount) === 0
}

// "2026-10" -> "2026年10月"; anything else as it is.
function periodName(period) {
  const match = /^(\d{4})-(\d{2})$/.exec(period || '')
  return match ? `${match[1]}年${Number(match[2])}月` : period || ''
}

function statementView(statement) {
  const names = {}
  const balances = (statement.balances || []).map((b) => {
    names[b.item] = b.item_name || b.item
    return {
      item: b.item,
      name: b.item_name || b.item,
      outstanding: b.outstanding,
      overdue: isZero(b.overdue) ? '' : b.overdue,
      periods: (b.open_periods || []).map(periodName).join('、'),
    }
  })
  const rows = (statement.rows || []).map((r, index) => ({
    key: `${index}`,
    period: periodName(r.period),
    name: names[r.item] || r.item,
    due: r.amount_due,
    paid: r.amount_paid,
    dueDate: r.due_date,
    overdue: Boolean(r.overdue),
    settled: Number(r.amount_paid) >= Number(r.amount_due),
  }))
  // the server sorts by item; a person reads the latest bills first (sort is stable)
  rows.sort((a, b) => b.dueDate.localeCompare(a.dueDate))
  return {
    state: statement.state,
    stateName: STATE_NAMES[statement.state] || statement.state,
    warn: ['overdue', 'overdue_below_threshold'].includes(statement.state),
    balances: balances.filter((b) => !isZero(b.outstanding)),
    clear: balances.every((b) => isZero(b.outstanding)),
    credit: isZero(statement.credit) ? '' : statement.credit,
    rows,
  }
}

module.exports = { STATE_NAMES, HOW_TO_PAY, periodName, statementView }
