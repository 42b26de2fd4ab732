// A poll as the poll page shows and sends it. Answers are stored by the server as
// {"1": 0, "2": [0, 2], "3": 4, "4": "text"}: question numbers from 1, option indexes from 0,
// ratings 1-5 (server/domain/polls.py check_answer). Choice and rating questions must be
// answered; a free-text question may stay empty (the server refuses an empty text answer,
// so an empty one is left out).

const LETTERS = 'ABCDEFGHI'
const KIND_HINTS = { single: '单选', multiple: '多选', rating: '评分 1–5', text: '意见（选填）' }
const RATINGS = [1, 2, 3, 4, 5]
const TEXT_MAX = 500

function optionsOf(question, value) {
  if (question.kind === 'rating') return RATINGS.map((score) => ({ index: score, label: `${score}`, on: value === score }))
  const chosen = Array.isArray(value) ? value : [value]
  return (question.options || []).map((text, index) => ({
    index, label: `${LETTERS[index]}. ${text}`, on: chosen.includes(index),
  }))
}

// Rows for the page: one per question, with the options ticked as `answers` says.
function formOf(questions, answers) {
  return (questions || []).map((question, i) => {
    const number = `${i + 1}`
    const value = answers[number]
    return {
      number,
      kind: question.kind,
      text: question.text,
      hint: KIND_HINTS[question.kind] || '',
      options: question.kind === 'text' ? [] : optionsOf(question, value),
      value: question.kind === 'text' ? value || '' : value,
    }
  })
}

// A tap on option `index` of question `number`: single and rating replace, multiple toggles.
function choose(answers, question, number, index) {
  const next = { ...answers }
  if (question.kind === 'multiple') {
    const had = Array.isArray(answers[number]) ? answers[number] : []
    const set = had.includes(index) ? had.filter((i) => i !== index) : had.concat(index)
    if (set.length) next[number] = set.sort((a, b) => a - b)
    else delete next[number]
  } else {
    next[number] = index
  }
  return next
}

function isAnswered(question, value) {
  if (question.kind === 'multiple') return Array.isArray(value) && value.length > 0
  if (question.kind === 'text') return typeof value === 'string' && value.trim() !== ''
  return Number.isInteger(value)
}

// The question numbers a person still has to answer before submitting.
function missing(questions, answers) {
  return (questions || [])
    .map((question, i) => [question, `${i + 1}`])
    .filter(([question, number]) => question.kind !== 'text' && !isAnswered(question, answers[number]))
    .map(([, number]) => number)
}

// The PUT body's `answers`: only answered questions, text trimmed.
function payload(questions, answers) {
  const out = {}
  ;(questions || []).forEach((question, i) => {
    const number = `${i + 1}`
    const value = answers[number]
    if (!isAnswered(question, value)) return
    out[number] = question.kind === 'text' ? value.trim().slice(0, TEXT_MAX) : value
  })
  return out
}

// A poll takes answers while open; the server has the last word (409 once closed).
function isOpen(poll) {
  return poll.status === 'open'
}

module.exports = { LETTERS, TEXT_MAX, formOf, choose, missing, payload, isOpen }
