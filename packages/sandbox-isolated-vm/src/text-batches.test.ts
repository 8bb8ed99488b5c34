// callEachJson: calls whose one argument crosses as JSON text and whose results come back as text,
// framed so that the host never decodes a value it only passes on.
import { afterEach, describe, expect, it } from 'vitest'
import { loadPlugin } from '../test/stack.js'

const event = (n: number) => ({ event: `e${n}`, distinct_id: `u${n}`, team_id: 2, properties: { n } })
const text = (n: number) => JSON.stringify(event(n))
const sandboxes: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const sandbox of sandboxes.splice(0)) await sandbox.close()
})

async function load(code: string, options: Parameters<typeof loadPlugin>[1] = {}) {
  const loaded = await loadPlugin({ 'index.js': code }, options)
  sandboxes.push(loaded.sandbox)
  return loaded.instance
}

describe('text batches (callEachJson)', () => {
  it('passes each text in as the argument and returns each value as its JSON text', async () => {
    const instance = await load(`exports.processEvent = (e) => {
      if (e.properties.n === 1) return null
      if (e.properties.n === 2) return undefined
      if (e.properties.n === 3) throw new TypeError('bad event 3')
      return { ...e, properties: { ...e.properties, seen: 'ünïcode ✓ \\n "quoted"' } }
    }`)
    const outcomes = await instance.callEachJson(
      'processEvent',
      [0, 1, 2, 3, 4].map((n) => ({ lane: `u${n}`, json: text(n) })),
    )
    const seen = (n: number) =>
      JSON.stringify({ ...event(n), properties: { n, seen: 'ünïcode ✓ \n "quoted"' } })
    expect(outcomes).toEqual([
      { ok: true, json: seen(0) },
      { ok: true, json: 'null' },
      { ok: true, json: null },
      { ok: false, failure: expect.objectContaining({ name: 'TypeError', message: 'bad event 3' }) },
      { ok: true, json: seen(4) },
    ])
  })

  it('returns every outcome of a batch whose calls leave promise rejections unhandled, whether they finish at once or later', async () => {
    const instance = await load(`exports.processEvent = (e, { cache }) => {
      Promise.reject(new Error('nobody listens'))
      const seen = { ...e, properties: { ...e.properties, seen: true } }
      return e.properties.n % 2 === 0 ? seen : cache.get('k').then(() => seen)
    }`)
    const seen = (n: number) => JSON.stringify({ ...event(n), properties: { n, seen: true } })
    for (const ns of [
      [0, 2, 4],
      [0, 1, 2, 3],
    ]) {
      const outcomes = await instance.callEachJson(
        'processEvent',
        ns.map((n) => ({ lane: `u${n}`, json: text(n) })),
      )
      expect(outcomes).toEqual(ns.map((n) => ({ ok: true, json: seen(n) })))
    }
  })

  it('keeps call order and lane order when a large batch is split into chunks', async () => {
    const instance = await load(`exports.processEvent = (e, { global }) => {
      const seen = (global[e.distinct_id] = (global[e.distinct_id] || 0) + 1)
      return { team_id: e.team_id, n: e.properties.n, seen }
    }`)
    const calls = Array.from({ length: 1000 }, (_, n) => ({
      lane: `u${n % 7}`,
      json: JSON.stringify({ ...event(n), distinct_id: `u${n % 7}` }),
    }))
    const outcomes = await instance.callEachJson('processEvent', calls)
    expect(outcomes).toEqual(
      calls.map((_call, n) => ({
        ok: true,
        json: JSON.stringify({ team_id: 2, n, seen: Math.floor(n / 7) + 1 }),
      })),
    )
  })

  it("fails a processEvent call whose result does not keep the argument's team_id, however it tries", async () => {
    const instance = await load(`exports.processEvent = (e) => {
      const n = e.properties.n
      if (n === 0) return e
      if (n === 1) { e.team_id = 3; return e }
      if (n === 2) return { ...e, team_id: '2' }
      if (n === 3) { const { team_id, ...rest } = e; return rest }
      if (n === 4) return Promise.resolve({ ...e, team_id: 5 })
      // An accessor could show one value to a check and another to JSON.stringify.
      if (n === 5) return Object.defineProperty({ ...e }, 'team_id', { get: () => 2, enumerable: true })
      return 'not an event'
    }`)
    const outcomes = await instance.callEachJson(
      'processEvent',
      [0, 1, 2, 3, 4, 5, 6].map((n) => ({ lane: `u${n}`, json: text(n) })),
    )
    const changed = {
      ok: false,
      failure: expect.objectContaining({ message: 'Plugin tried to change event.team_id' }),
    }
    expect(outcomes).toEqual([
      { ok: true, json: text(0) },
      changed,
      changed,
      changed,
      changed,
      changed,
      { ok: true, json: '"not an event"' },
    ])
    // Other functions return what they like.
    const other = await load('exports.onEvent = (e) => ({ ...e, team_id: 9 })')
    expect(await other.callEachJson('onEvent', [{ lane: 'a', json: text(1) }])).toEqual([
      { ok: true, json: JSON.stringify({ ...event(1), team_id: 9 }) },
    ])
  })

  it('fails only the call whose text is not JSON', async () => {
    const instance = await load('exports.processEvent = (e) => e')
    const outcomes = await instance.callEachJson('processEvent', [
      { lane: 'a', json: text(1) },
      { lane: 'b', json: '{"broken": ' },
      { lane: 'c', json: text(3) },
    ])
    expect(outcomes[0]).toEqual({ ok: true, json: text(1) })
    expect(outcomes[1]).toMatchObject({ ok: false, failure: { name: 'SyntaxError' } })
    expect(outcomes[2]).toEqual({ ok: true, json: text(3) })
  })

  it('after a runaway, finished calls keep their text, the runaway times out, the rest run again', async () => {
    const instance = await load(
      `exports.processEvent = (e) => {
        if (e.properties.n === 2) for (;;) {}
        return { ...e, properties: { done: e.properties.n } }
      }`,
      { sandbox: { callTimeoutMs: 1000 } },
    )
    const outcomes = await instance.callEachJson(
      'processEvent',
      [1, 2, 3].map((n) => ({ lane: 'one lane', json: text(n) })),
    )
    expect(outcomes[0]).toEqual({ ok: true, json: JSON.stringify({ ...event(1), properties: { done: 1 } }) })
    expect(outcomes[1]).toMatchObject({ ok: false, failure: { name: 'TimeoutError', timeout: true } })
    expect(outcomes[2]).toEqual({ ok: true, json: JSON.stringify({ ...event(3), properties: { done: 3 } }) })
  })

  it('a plugin that breaks the framing of its results fails its own batch, nothing else', async () => {
    const instance = await load(`
      exports.processEvent = (e) => {
        Array.prototype.join = function () { return '[{"ok":true,"n":99999}]\\n{}' }
        return e
      }`)
    const outcomes = await instance.callEachJson('processEvent', [
      { lane: 'a', json: text(1) },
      { lane: 'b', json: text(2) },
    ])
    expect(outcomes).toEqual([
      { ok: false, failure: expect.objectContaining({ name: 'ProtocolError' }) },
      { ok: false, failure: expect.objectContaining({ name: 'ProtocolError' }) },
    ])
  })

  it('caps the size of each returned text', async () => {
    const instance = await load(
      `exports.processEvent = (e) => ({ ...e, properties: { big: 'x'.repeat(2000) } })`,
      { sandbox: { maxOutputChars: 1000 } },
    )
    const [outcome] = await instance.callEachJson('processEvent', [{ lane: 'a', json: text(1) }])
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'OutputLimitError' } })
  })
})
