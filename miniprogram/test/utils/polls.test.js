const polls = require('../../utils/polls')
const { POLL_QUESTIONS } = require('../support/fixtures')

const [SINGLE, MULTIPLE, RATING] = POLL_QUESTIONS

test('options read with their letters, ratings 1 to 5, ticked as answered', () => {
  const form = polls.formOf(POLL_QUESTIONS, { 1: 1, 2: [0, 2], 3: 4 })
  expect(form[0].options.map((o) => [o.label, o.on])).toEqual([['A. 同意', false], ['B. 不同意', true]])
  expect(form[1].options.filter((o) => o.on).map((o) => o.index)).toEqual([0, 2])
  expect(form[2].options.map((o) => o.index)).toEqual([1, 2, 3, 4, 5])
  expect(form[2].options.find((o) => o.on).index).toBe(4)
  expect(form[3]).toMatchObject({ kind: 'text', options: [], value: '' })
})

test('single and rating replace the choice, multiple toggles and stays sorted', () => {
  let answers = polls.choose({}, SINGLE, '1', 0)
  answers = polls.choose(answers, SINGLE, '1', 1)
  answers = polls.choose(answers, RATING, '3', 2)
  answers = polls.choose(answers, MULTIPLE, '2', 2)
  answers = polls.choose(answers, MULTIPLE, '2', 0)
  expect(answers).toEqual({ 1: 1, 2: [0, 2], 3: 2 })
  answers = polls.choose(answers, MULTIPLE, '2', 0)
  answers = polls.choose(answers, MULTIPLE, '2', 2)
  expect(answers).toEqual({ 1: 1, 3: 2 }) // nothing ticked = not answered
})

test('choice and rating questions must be answered, text may stay empty', () => {
  expect(polls.missing(POLL_QUESTIONS, {})).toEqual(['1', '2', '3'])
  expect(polls.missing(POLL_QUESTIONS, { 1: 0, 2: [], 3: 5 })).toEqual(['2'])
  expect(polls.missing(POLL_QUESTIONS, { 1: 0, 2: [1], 3: 5 })).toEqual([])
})

test('the body leaves out empty answers and trims text to what the server keeps', () => {
  expect(polls.payload(POLL_QUESTIONS, { 1: 0, 2: [1], 3: 5, 4: '   ' })).toEqual({ 1: 0, 2: [1], 3: 5 })
  const long = 'x'.repeat(600)
  expect(polls.payload(POLL_QUESTIONS, { 4: ` ${long} ` })[4]).toHaveLength(polls.TEXT_MAX)
})

test('only an open poll takes answers', () => {
  expect(polls.isOpen({ status: 'open' })).toBe(true)
  expect(polls.isOpen({ status: 'closed' })).toBe(false)
  expect(polls.isOpen({ status: 'scheduled' })).toBe(false)
})
