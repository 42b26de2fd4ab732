const fees = require('../../utils/fees')
const { statement } = require('../support/fixtures')

test('arrears states read as the server labels them', () => {
  expect(fees.statementView(statement({ state: 'overdue' }))).toMatchObject({ stateName: '逾期较久', warn: true })
  expect(fees.statementView(statement({ state: 'due' }))).toMatchObject({ stateName: '待缴（未逾期）', warn: false })
})

test('periods read as months', () => {
  expect(fees.periodName('2026-03')).toBe('2026年3月')
  expect(fees.periodName('2026Q1')).toBe('2026Q1')
})

test('only items with something outstanding are listed, amounts kept as sent', () => {
  const view = fees.statementView(statement())
  expect(view.balances).toEqual([
    { item: 'property_fee', name: '物业费', outstanding: '537.00', overdue: '268.50', periods: '2026年10月、2026年11月' },
  ])
  expect(view.clear).toBe(false)
  expect(view.credit).toBe('')
})

test('rows come latest first, the overdue ones marked', () => {
  const rows = fees.statementView(statement()).rows
  expect(rows.map((r) => [r.dueDate, r.name, r.overdue, r.settled])).toEqual([
    ['2026-11-30', '物业费', false, false],
    ['2026-10-31', '物业费', true, false],
    ['2026-10-31', '停车费', false, true],
  ])
})

test('paying is never offered inside the mini-program', () => {
  expect(fees.HOW_TO_PAY).toContain('小程序内暂不支持缴费')
})
