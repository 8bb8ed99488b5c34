import type { Fetch, FetchRequest, FetchResponse } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createStack, loadPlugin, pluginSource } from '../test/stack.js'
import { createIsolatedVmSandbox } from './index.js'

const event = (n: number) => ({ event: `e${n}`, distinct_id: `u${n}`, team_id: 2, properties: { n } })
const sandboxes: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const sandbox of sandboxes.splice(0)) await sandbox.close()
})

async function load(files: Record<string, string>, options: Parameters<typeof loadPlugin>[1] = {}) {
  const loaded = await loadPlugin(files, options)
  sandboxes.push(loaded.sandbox)
  return loaded
}

/** A Fetch double whose responses the test releases by hand. */
function gatedFetch() {
  const waiting: Array<{ request: FetchRequest; release: (response: FetchResponse) => void }> = []
  const arrivals: Array<() => void> = []
  const fetch: Fetch = {
    request: (request) =>
      new Promise((release) => {
        waiting.push({ request, release })
        for (const notify of arrivals.splice(0)) notify()
      }),
  }
  const respond = (index: number, body: string) =>
    waiting[index]?.release({
      status: 200,
      statusText: 'OK',
      headers: {},
      body: new TextEncoder().encode(body),
    })
  const arrived = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (waiting.length >= count ? resolve() : arrivals.push(check))
      check()
    })
  return { fetch, waiting, respond, arrived }
}

describe('batch calls', () => {
  it('returns one outcome per event: kept, dropped or failed, without failing the batch', async () => {
    const { instance } = await load({
      'index.js': `exports.processEvent = (e) => {
        if (e.properties.n === 1) return null
        if (e.properties.n === 2) return undefined
        if (e.properties.n === 3) throw new TypeError('bad event 3')
        return { ...e, properties: { ...e.properties, seen: true } }
      }`,
    })
    const outcomes = await instance.callEach(
      'processEvent',
      [0, 1, 2, 3, 4].map((n) => ({ lane: `u${n}`, args: [event(n)] })),
    )
    expect(outcomes).toEqual([
      { ok: true, value: { ...event(0), properties: { n: 0, seen: true } } },
      { ok: true, value: null },
      { ok: true, value: undefined },
      {
        ok: false,
        failure: expect.objectContaining({
          name: 'TypeError',
          message: 'bad event 3',
          retry: false,
          timeout: false,
        }),
      },
      { ok: true, value: { ...event(4), properties: { n: 4, seen: true } } },
    ])
  })

  it('keeps outcomes in call order and each lane in order when a large batch is split', async () => {
    const { instance } = await load({
      'index.js': `exports.processEvent = (e, { global }) => {
        const seen = (global[e.distinct_id] = (global[e.distinct_id] || 0) + 1)
        return { n: e.properties.n, lane: e.distinct_id, seen }
      }`,
    })
    const calls = Array.from({ length: 1000 }, (_, n) => ({
      lane: `u${n % 7}`,
      args: [{ ...event(n), distinct_id: `u${n % 7}` }],
    }))
    const outcomes = await instance.callEach('processEvent', calls)
    const expected = calls.map((_call, n) => ({
      ok: true,
      value: { n, lane: `u${n % 7}`, seen: Math.floor(n / 7) + 1 },
    }))
    expect(outcomes).toEqual(expected)
  })

  it('runs calls of one lane in order and different lanes concurrently', async () => {
    const gate = gatedFetch()
    const { instance } = await load(
      {
        'index.js': `exports.processEvent = async (e, { global }) => {
          global.order = (global.order || []).concat(e.event + ':start')
          await fetch('https://example.com/' + e.event)
          global.order.push(e.event + ':end')
          return global.order.slice()
        }`,
      },
      { fetch: gate.fetch },
    )
    const done = instance.callEach('processEvent', [
      { lane: 'a', args: [event(1)] },
      { lane: 'a', args: [event(2)] },
      { lane: 'b', args: [event(3)] },
    ])
    // Lane b starts while lane a's first call is still waiting: the lanes overlap.
    await gate.arrived(2)
    expect(gate.waiting.map((w) => w.request.url)).toEqual([
      'https://example.com/e1',
      'https://example.com/e3',
    ])
    gate.respond(1, 'x')
    gate.respond(0, 'x')
    await gate.arrived(3)
    expect(gate.waiting[2]?.request.url).toBe('https://example.com/e2')
    gate.respond(2, 'x')
    const outcomes = await done
    expect(outcomes[1]).toEqual({
      ok: true,
      value: ['e1:start', 'e3:start', 'e3:end', 'e1:end', 'e2:start', 'e2:end'],
    })
  })
})

describe('limits (SPEC §2.2)', () => {
  it('times out a call that awaits forever, counting awaited time, as a retryable TimeoutError', async () => {
    const { instance } = await load(
      { 'index.js': `exports.onEvent = async () => { await new Promise(() => {}) }` },
      { sandbox: { callTimeoutMs: 200 } },
    )
    const started = Date.now()
    const [outcome] = await instance.callEach('onEvent', [{ lane: 'a', args: [event(1)] }])
    expect(outcome).toMatchObject({
      ok: false,
      failure: { name: 'TimeoutError', retry: true, timeout: true },
    })
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('times out a call stuck awaiting a slow host request', async () => {
    const gate = gatedFetch()
    const { instance } = await load(
      { 'index.js': `exports.processEvent = async (e) => { await fetch('https://slow.example'); return e }` },
      { fetch: gate.fetch, sandbox: { callTimeoutMs: 200 } },
    )
    const [outcome] = await instance.callEach('processEvent', [{ lane: 'a', args: [event(1)] }])
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'TimeoutError', timeout: true } })
  })

  it('interrupts a synchronous infinite loop; the other events of the batch still get their results', async () => {
    const { instance } = await load(
      { 'index.js': `exports.processEvent = (e) => { if (e.properties.n === 2) for (;;) {} return e }` },
      { sandbox: { callTimeoutMs: 300 } },
    )
    const outcomes = await instance.callEach(
      'processEvent',
      [1, 2, 3].map((n) => ({ lane: `u${n}`, args: [event(n)] })),
    )
    expect(outcomes[0]).toEqual({ ok: true, value: event(1) })
    expect(outcomes[1]).toMatchObject({ ok: false, failure: { name: 'TimeoutError', timeout: true } })
    expect(outcomes[2]).toEqual({ ok: true, value: event(3) })
    // The instance stays usable.
    expect(await instance.call('processEvent', [event(4)])).toEqual(event(4))
  })

  it.each([
    ['JSON', false],
    ['text', true],
  ])(
    "interrupts an infinite loop in a continuation of the batch's own task (%s batch): its unfinished calls time out, none runs twice",
    async (_kind, text) => {
      const { instance } = await load(
        {
          'index.js': `exports.processEvent = async (e, { global }) => {
          global[e.distinct_id] = (global[e.distinct_id] || 0) + 1
          await null
          if (e.properties.n === 2) for (;;) {}
          return { ...e, runs: global[e.distinct_id] }
        }`,
        },
        { sandbox: { callTimeoutMs: 300 } },
      )
      const events = [1, 2, 3].map(event)
      const outcomes = text
        ? await instance.callEachJson(
            'processEvent',
            events.map((e) => ({ lane: e.distinct_id, json: JSON.stringify(e) })),
          )
        : await instance.callEach(
            'processEvent',
            events.map((e) => ({ lane: e.distinct_id, args: [e] })),
          )
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({ ok: false, failure: { name: 'TimeoutError', timeout: true } })
      }
      // A call run again by the recovery would have counted twice already.
      expect(await instance.call('processEvent', [event(3)])).toEqual({ ...event(3), runs: 2 })
    },
  )

  it('interrupts an infinite loop that starts after an await', async () => {
    const gate = gatedFetch()
    const { instance } = await load(
      {
        'index.js': `exports.processEvent = async (e) => { await fetch('https://x.example'); if (e.properties.n === 1) for (;;) {} return e }`,
      },
      { fetch: gate.fetch, sandbox: { callTimeoutMs: 300 } },
    )
    const done = instance.callEach('processEvent', [{ lane: 'a', args: [event(1)] }])
    await gate.arrived(1)
    gate.respond(0, 'ok')
    const [outcome] = await done
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'TimeoutError', timeout: true } })
    const next = instance.call('processEvent', [event(2)])
    await gate.arrived(2)
    gate.respond(1, 'ok')
    expect(await next).toEqual(event(2))
  })

  it('disposes an isolate over its memory limit, rebuilds it, and runs setupPlugin again first', async () => {
    const { instance } = await load(
      {
        'index.js': `
          exports.setupPlugin = ({ global }) => { global.setups = (global.setups || 0) + 1; global.ready = true }
          exports.processEvent = (e, { global }) => {
            if (e.properties.n === 1) { const hog = []; for (;;) hog.push(new Array(1e5).fill(Math.random())) }
            return { ...e, properties: { setups: global.setups, ready: global.ready } }
          }`,
      },
      { sandbox: { memoryLimitMb: 32, callTimeoutMs: 20_000 } },
    )
    await instance.call('setupPlugin', [])
    const [outcome] = await instance.callEach('processEvent', [{ lane: 'a', args: [event(1)] }])
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'MemoryLimitError', retry: false } })
    expect(await instance.call('processEvent', [event(2)])).toMatchObject({
      properties: { setups: 1, ready: true },
    })
  })

  it('caps the size of what a call returns', async () => {
    const { instance } = await load(
      { 'index.js': `exports.processEvent = (e) => ({ ...e, properties: { big: 'x'.repeat(2000) } })` },
      { sandbox: { maxOutputChars: 1000 } },
    )
    const [outcome] = await instance.callEach('processEvent', [{ lane: 'a', args: [event(1)] }])
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'OutputLimitError' } })
  })

  it('bounds the batches running in one isolate at once', async () => {
    const gate = gatedFetch()
    const sandbox = createIsolatedVmSandbox({ maxConcurrentBatches: 1 })
    sandboxes.push(sandbox)
    const stack = createStack()
    const loaded = await sandbox.load(
      pluginSource({
        'index.js': `exports.processEvent = async (e) => { await fetch('https://x.example/' + e.event); return e }`,
      }),
    )
    const first = await loaded.instantiate(stack.hostFor(loaded, 'p', { fetch: gate.fetch }))
    const second = await loaded.instantiate(stack.hostFor(loaded, 'p', { fetch: gate.fetch }))
    const one = first.call('processEvent', [event(1)])
    const two = second.call('processEvent', [event(2)])
    await gate.arrived(1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(gate.waiting).toHaveLength(1)
    gate.respond(0, 'ok')
    await gate.arrived(2)
    gate.respond(1, 'ok')
    expect(await Promise.all([one, two])).toEqual([event(1), event(2)])
  })

  it('keeps other plugins running while one plugin spins', async () => {
    const sandbox = createIsolatedVmSandbox({ callTimeoutMs: 3000 })
    sandboxes.push(sandbox)
    const stack = createStack()
    const spinner = await sandbox.load(
      pluginSource({ 'index.js': 'exports.processEvent = () => { for (;;) {} }' }, { name: 'spinner' }),
    )
    const normal = await sandbox.load({
      ...pluginSource({ 'index.js': 'exports.processEvent = (e) => e' }, { name: 'normal' }),
      pluginId: 2,
    })
    const spinning = (await spinner.instantiate(stack.hostFor(spinner, 'spinner'))).call('processEvent', [
      event(1),
    ])
    const instance = await normal.instantiate(stack.hostFor(normal, 'normal'))
    const started = Date.now()
    expect(await instance.call('processEvent', [event(2)])).toEqual(event(2))
    expect(Date.now() - started).toBeLessThan(2000)
    await expect(spinning).rejects.toMatchObject({ failure: { name: 'TimeoutError' } })
  })
})

describe('many configs of one plugin', () => {
  const counting = {
    'index.js': `
      exports.processEvent = (e, { config, global }) => {
        if (config.hog === 'yes') { const hog = []; for (;;) hog.push(new Array(1e5).fill(Math.random())) }
        global.calls = (global.calls || 0) + 1
        return { ...e, properties: { label: config.label, calls: global.calls } }
      }`,
  }

  it('keeps more configs loaded than one isolate heap holds, each with its own meta.global', async () => {
    // A context costs ~200 KB of heap: 150 of them would not fit one 16 MB isolate.
    const sandbox = createIsolatedVmSandbox({ memoryLimitMb: 16 })
    sandboxes.push(sandbox)
    const stack = createStack()
    const loaded = await sandbox.load(pluginSource(counting))
    const instances = []
    for (let n = 0; n < 150; n++) {
      instances.push(await loaded.instantiate(stack.hostFor(loaded, 'p', { config: { label: `c${n}` } })))
    }
    for (const round of [1, 2]) {
      const results = await Promise.all(
        instances.map((instance) => instance.callEach('processEvent', [{ lane: 'a', args: [event(round)] }])),
      )
      results.forEach(([outcome], n) => {
        expect(outcome).toEqual({
          ok: true,
          value: { ...event(round), properties: { label: `c${n}`, calls: round } },
        })
      })
    }
  })

  it('a config over the memory limit takes down only the configs sharing its isolate', async () => {
    const sandbox = createIsolatedVmSandbox({
      memoryLimitMb: 32,
      contextsPerIsolate: 2,
      callTimeoutMs: 20_000,
    })
    sandboxes.push(sandbox)
    const stack = createStack()
    const loaded = await sandbox.load(pluginSource(counting))
    const [hog, neighbour, elsewhere] = await Promise.all(
      ['yes', 'no', 'no'].map(async (hog, n) =>
        loaded.instantiate(stack.hostFor(loaded, 'p', { config: { label: `c${n}`, hog } })),
      ),
    )
    for (const instance of [neighbour, elsewhere]) await instance?.call('processEvent', [event(1)])
    const [outcome] = (await hog?.callEach('processEvent', [{ lane: 'a', args: [event(2)] }])) ?? []
    expect(outcome).toMatchObject({ ok: false, failure: { name: 'MemoryLimitError' } })
    // The neighbour's context was rebuilt (its meta.global starts over); the other isolate's was not.
    expect(await neighbour?.call('processEvent', [event(3)])).toMatchObject({ properties: { calls: 1 } })
    expect(await elsewhere?.call('processEvent', [event(3)])).toMatchObject({ properties: { calls: 2 } })
  })

  it('rejects a contextsPerIsolate that is not a positive number', () => {
    expect(() => createIsolatedVmSandbox({ contextsPerIsolate: 0 })).toThrow(/contextsPerIsolate/)
  })
})
