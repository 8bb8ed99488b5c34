// A PostHog plugin in plain JavaScript and CommonJS, as many were written: no build step, and only
// modules from the plugin allow-list (`crypto` here).
const { createHash } = require('node:crypto')

/** "a, b,,c" → ['a', 'b', 'c'] */
function listOf(text) {
  return String(text || '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

function sha256(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return createHash('sha256').update(text).digest('hex')
}

/** A copy of `object` with the personal keys removed or hashed; null and undefined pass through. */
function scrub(object, names, hash) {
  if (object === null || typeof object !== 'object') return object
  const copy = { ...object }
  for (const name of names) {
    if (!(name in copy)) continue
    if (hash && copy[name] !== null && copy[name] !== undefined) copy[name] = sha256(copy[name])
    else delete copy[name]
  }
  return copy
}

function setupPlugin({ config, global }) {
  global.names = listOf(config.propertiesToRemove)
  global.hash = config.strategy === 'hash'
  global.dropped = new Set(listOf(config.eventsToDrop))
}

function processEvent(event, { global }) {
  if (global.dropped.has(event.event)) return null
  const { names, hash } = global
  if (event.properties) {
    event.properties = scrub(event.properties, names, hash)
    if (event.properties.$set) event.properties.$set = scrub(event.properties.$set, names, hash)
    if (event.properties.$set_once)
      event.properties.$set_once = scrub(event.properties.$set_once, names, hash)
  }
  if (event.$set) event.$set = scrub(event.$set, names, hash)
  if (event.$set_once) event.$set_once = scrub(event.$set_once, names, hash)
  if (names.includes('$ip') && event.ip) event.ip = hash ? sha256(event.ip) : null
  return event
}

module.exports = { setupPlugin, processEvent }
