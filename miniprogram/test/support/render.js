// Render a page or component with miniprogram-simulate (pages are Component()s, so they load
// the same way), and read what a person would see.
const path = require('path')
const simulate = require('miniprogram-simulate')

const ROOT = path.resolve(__dirname, '../..')
const loaded = {} // a definition registers once per test file; render makes fresh instances

function render(name, properties) {
  const file = path.join(ROOT, name)
  loaded[file] = loaded[file] || simulate.load(file, { compiler: 'simulate', rootPath: ROOT })
  const comp = simulate.render(loaded[file], properties)
  comp.attach(document.createElement('parent-wrapper'))
  return comp
}

// The text a person reads, one space between separate pieces: "钱工 员工 · 136****0003".
function textOf(comp, selector) {
  const node = selector ? comp.querySelector(selector) : comp
  if (!node) return null
  const walker = document.createTreeWalker(node.dom, NodeFilter.SHOW_TEXT)
  const pieces = []
  while (walker.nextNode()) pieces.push(walker.currentNode.nodeValue.trim())
  return pieces.filter(Boolean).join(' ').replace(/\s+/g, ' ')
}

// Let the promise chain a tap started run to its end: the fake wx answers synchronously, so the
// chain is all microtasks, and they all run before a zero-delay macrotask.
function settle() {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

function textsOf(comp, selector) {
  return comp.querySelectorAll(selector).map((node) => textOf(node))
}

// Fire an event on the index-th node matching selector (simulate's selectors are ids and
// classes only) and wait for what it set off: j-component delivers events asynchronously.
async function fire(comp, selector, name, detail, index = 0) {
  const node = comp.querySelectorAll(selector)[index]
  if (!node) throw new Error(`nothing matches ${selector} [${index}]`)
  node.dispatchEvent(name, detail === undefined ? undefined : { detail })
  await settle()
}

function tap(comp, selector, index = 0) {
  return fire(comp, selector, 'tap', undefined, index)
}

// Type into an <input>/<textarea>, or pick in a <picker> (WeChat sends the index as a string).
function type(comp, selector, value) {
  return fire(comp, selector, 'input', { value })
}

function pick(comp, selector, index) {
  return fire(comp, selector, 'change', { value: String(index) })
}

// The last error or notice shown to the person, whether as a toast or in a modal.
function shownMessage() {
  const shown = (mock, key) => mock.mock.calls.map((args, i) => [mock.mock.invocationCallOrder[i], args[0][key]])
  const all = shown(wx.showToast, 'title').concat(shown(wx.showModal, 'content'))
  all.sort((a, b) => a[0] - b[0])
  return all.length ? all[all.length - 1][1] : undefined
}

module.exports = { ROOT, render, textOf, textsOf, settle, fire, tap, type, pick, shownMessage }
