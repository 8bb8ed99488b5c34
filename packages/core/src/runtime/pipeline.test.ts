import { describe, expect, it } from 'vitest'
import { createTestRuntime, event } from '../../test/harness.js'
import { RetryError } from '../errors.js'
import { PLUGINS_DEFERRED, PLUGINS_FAILED, PLUGINS_SUCCEEDED } from './pipeline.js'

type AnyEvent = { event: string; team_id: number; distinct_id: string; properties: Record<string, unknown> }

describe('the processEvent chain', () => {
  it('runs plugins in the team order, each getting the previous output, and lists them as succeeded', async () => {
    const rt = createTestRuntime({
      second: {
        processEvent: (e: AnyEvent) => ({
          ...e,
          properties: { ...e.properties, trail: `${e.properties.trail}>second` },
        }),
      },
      first: { processEvent: (e: AnyEvent) => ({ ...e, properties: { ...e.properties, trail: 'first' } }) },
    })
    const { config: second } = await rt.install('second', { order: 2 })
    const { config: first } = await rt.install('first', { order: 1 })
    await rt.configs.reconcile()
    await rt.run([event()])
    expect(rt.sink.events).toHaveLength(1)
    const [out] = rt.sink.events
    expect(out?.properties.trail).toBe('first>second')
    expect(out?.properties[PLUGINS_SUCCEEDED]).toEqual([`first (${first.id})`, `second (${second.id})`])
    expect(out?.properties[PLUGINS_FAILED]).toBeUndefined()
  })

  it.each([null, undefined])(
    'drops the event when a plugin returns %s, and later plugins never see it',
    async (result) => {
      let laterCalls = 0
      const rt = createTestRuntime({
        dropper: { processEvent: (e: AnyEvent) => (e.event === 'drop me' ? result : e) },
        later: {
          processEvent: (e: AnyEvent) => {
            laterCalls += 1
            return e
          },
        },
      })
      await rt.install('dropper', { order: 1 })
      await rt.install('later', { order: 2 })
      await rt.configs.reconcile()
      await rt.run([event({ event: 'drop me' }), event({ event: 'keep me' })])
      expect(rt.sink.events.map((e) => e.event)).toEqual(['keep me'])
      expect(laterCalls).toBe(1)
    },
  )

  it('continues with the event as it was before a plugin that throws, and records the failure', async () => {
    const rt = createTestRuntime({
      broken: {
        processEvent: (e: AnyEvent) => {
          e.properties.mutated = true
          throw new Error('boom')
        },
      },
      after: { processEvent: (e: AnyEvent) => ({ ...e, properties: { ...e.properties, after: true } }) },
    })
    const { config: broken } = await rt.install('broken', { order: 1 })
    const { config: after } = await rt.install('after', { order: 2 })
    await rt.configs.reconcile()
    await rt.run([event()])
    const [out] = rt.sink.events
    expect(out?.properties.mutated).toBeUndefined()
    expect(out?.properties.after).toBe(true)
    expect(out?.properties[PLUGINS_FAILED]).toEqual([`broken (${broken.id})`])
    expect(out?.properties[PLUGINS_SUCCEEDED]).toEqual([`after (${after.id})`])
    expect(await rt.logs()).toContainEqual(
      expect.stringMatching(/^error: processEvent failed on event uuid-\d+: Error: boom$/),
    )
  })

  it('refuses a plugin that changes team_id', async () => {
    const rt = createTestRuntime({
      thief: { processEvent: (e: AnyEvent) => ({ ...e, team_id: 2, event: 'stolen' }) },
    })
    const { config } = await rt.install('thief')
    await rt.configs.reconcile()
    await rt.run([event()])
    const [out] = rt.sink.events
    expect(out?.team_id).toBe(1)
    expect(out?.event).toBe('pageview')
    expect(out?.properties[PLUGINS_FAILED]).toEqual([`thief (${config.id})`])
    expect(await rt.logs()).toContainEqual(expect.stringContaining('Plugin tried to change event.team_id'))
  })

  it('dead-letters an event whose chain result changed team_id past the sandbox check, as it came in', async () => {
    const rt = createTestRuntime({
      sly: { processEvent: (e: AnyEvent) => ({ ...e, properties: { ...e.properties, sly: true } }) },
      after: { processEvent: (e: AnyEvent) => e },
    })
    await rt.install('sly', { order: 1 })
    await rt.install('after', { order: 2 })
    await rt.configs.reconcile()
    // What a plugin that fooled the sandbox's own check (say with a proxy) would hand back.
    const [sly] = rt.configs.chain(1)
    if (!sly) throw new Error('no chain')
    const honest = sly.instance.callEachJson.bind(sly.instance)
    sly.instance.callEachJson = async (fn, calls) =>
      (await honest(fn, calls)).map((outcome) =>
        outcome.ok && outcome.json !== null
          ? { ok: true, json: outcome.json.replace('"team_id":1', '"team_id":2') }
          : outcome,
      )
    const incoming = event()
    await rt.run([incoming])
    expect(rt.sink.events).toEqual([])
    expect(rt.deadLetters.entries).toHaveLength(1)
    const [letter] = rt.deadLetters.entries
    expect(letter?.source).toBe('ingestion')
    expect(letter?.teamId).toBe(1)
    expect(letter?.reason).toContain('Plugin tried to change event.team_id')
    expect(JSON.parse(letter?.payload ?? 'null')).toMatchObject({ uuid: incoming.uuid, team_id: 1 })
    expect(JSON.parse(letter?.payload ?? 'null').properties.sly).toBeUndefined()
  })

  it('skips plugins already listed on a re-processed event', async () => {
    let calls = 0
    const rt = createTestRuntime({
      once: {
        processEvent: (e: AnyEvent) => {
          calls += 1
          return e
        },
      },
    })
    const { config } = await rt.install('once')
    await rt.configs.reconcile()
    await rt.run([
      event({ properties: { [PLUGINS_SUCCEEDED]: [`once (${config.id})`] } }),
      event({ properties: { [PLUGINS_FAILED]: [`once (${config.id})`] } }),
      event(),
    ])
    expect(calls).toBe(1)
  })

  it('uses processEventBatch with [event] when only it is exported', async () => {
    const rt = createTestRuntime({
      legacy: {
        processEventBatch: (events: AnyEvent[]) => events.map((e) => ({ ...e, event: `${e.event}!` })),
      },
      legacyDropper: { processEventBatch: () => [] },
    })
    await rt.install('legacy', { teamId: 1 })
    await rt.install('legacyDropper', { teamId: 2 })
    await rt.configs.reconcile()
    await rt.run([event(), event({ team_id: 2 })])
    expect(rt.sink.events.map((e) => e.event)).toEqual(['pageview!'])
  })

  it('runs only the configs of the event team', async () => {
    const rt = createTestRuntime({
      tagger: { processEvent: (e: AnyEvent) => ({ ...e, properties: { ...e.properties, tagged: true } }) },
    })
    await rt.install('tagger', { teamId: 7 })
    await rt.configs.reconcile()
    await rt.run([event({ team_id: 1 }), event({ team_id: 7 })])
    expect(rt.sink.events.map((e) => [e.team_id, e.properties.tagged ?? false])).toEqual([
      [1, false],
      [7, true],
    ])
  })

  it('keeps the order of one (team, distinct_id) while different ids run concurrently', async () => {
    const started: string[] = []
    const gates = new Map<string, () => void>()
    const rt = createTestRuntime({
      slow: {
        processEvent: (e: AnyEvent) =>
          new Promise((resolve) => {
            started.push(`${e.distinct_id}:${e.properties.n}`)
            gates.set(`${e.distinct_id}:${e.properties.n}`, () => resolve(e))
          }),
      },
    })
    await rt.install('slow')
    await rt.configs.reconcile()
    const done = rt.run([
      event({ distinct_id: 'a', properties: { n: 1 } }),
      event({ distinct_id: 'a', properties: { n: 2 } }),
      event({ distinct_id: 'b', properties: { n: 1 } }),
    ])
    await new Promise((r) => setImmediate(r))
    // a:2 waits for a:1; b:1 runs alongside a:1.
    expect(started).toEqual(['a:1', 'b:1'])
    gates.get('a:1')?.()
    await new Promise((r) => setImmediate(r))
    expect(started).toEqual(['a:1', 'b:1', 'a:2'])
    gates.get('a:2')?.()
    gates.get('b:1')?.()
    await done
    expect(rt.sink.events.map((e) => `${e.distinct_id}:${e.properties.n}`)).toEqual(['a:1', 'a:2', 'b:1'])
  })
})

describe('input the pipeline cannot process', () => {
  it('goes to the dead-letter store with its reason, and the rest of the batch goes on', async () => {
    const rt = createTestRuntime({})
    await rt.run([
      '{not json',
      JSON.stringify({ event: 'x' }),
      JSON.stringify(event()),
      `{"uuid":"u","event":"e","team_id":1,"distinct_id":"d","pad":"${'x'.repeat(1024 * 1024)}"}`,
    ])
    expect(rt.sink.events).toHaveLength(1)
    const reasons = rt.deadLetters.entries.map((e) => e.reason)
    expect(reasons[0]).toMatch(/^not valid JSON/)
    expect(reasons[1]).toBe(
      'uuid must be a non-empty string; team_id must be an integer; distinct_id must be a non-empty string or a number',
    )
    expect(reasons[2]).toMatch(/bytes of JSON; the limit is 1048576$/)
    expect(rt.deadLetters.entries[0]?.payload).toBe('{not json')
    expect(rt.deadLetters.entries.every((e) => e.source === 'ingestion')).toBe(true)
  })
})

describe('sinks and commit', () => {
  it('rejects the batch when a sink fails, before any async work, so it is delivered again', async () => {
    let onEventCalls = 0
    const rt = createTestRuntime({
      watcher: {
        onEvent: () => {
          onEventCalls += 1
        },
      },
    })
    await rt.install('watcher')
    await rt.configs.reconcile()
    rt.sink.failNext = 1
    await expect(rt.run([event()])).rejects.toThrow('sink unavailable')
    expect(onEventCalls).toBe(0)
    await rt.run([event()])
    expect(onEventCalls).toBe(1)
  })

  it('turns what a sink refuses for good into dead letters for that sink, one per team, and goes on', async () => {
    const rt = createTestRuntime({})
    rt.sink.refuseNext = 1
    const batch = [event({ team_id: 1 }), event({ team_id: 2 }), event({ team_id: 1 })]
    await rt.run(batch)
    expect(rt.sink.events).toEqual([])
    const entries = rt.deadLetters.entries
    expect(entries.map((entry) => [entry.source, entry.teamId, entry.configId])).toEqual([
      ['sink', 1, null],
      ['sink', 2, null],
    ])
    expect(entries[0]?.reason).toMatch(/^sink test refused the events: .*HTTP 400: bad batch$/)
    const payload = JSON.parse(entries[0]?.payload ?? '')
    expect(payload.sink).toBe('test')
    expect(payload.events.map((e: { uuid: string }) => e.uuid)).toEqual([batch[0]?.uuid, batch[2]?.uuid])
  })
})

describe('the async stage', () => {
  it('fans kept events out to onEvent, $snapshot events to onSnapshot only, and lists deferred configs', async () => {
    const seen: string[] = []
    const rt = createTestRuntime({
      events: { onEvent: (e: AnyEvent) => void seen.push(`onEvent:${e.event}`) },
      snaps: {
        onSnapshot: (e: AnyEvent) => void seen.push(`onSnapshot:${e.event}`),
        processEvent: (e: AnyEvent) => {
          seen.push(`processEvent:${e.event}`)
          return e
        },
      },
    })
    const { config: events } = await rt.install('events', { order: 1 })
    const { config: snaps } = await rt.install('snaps', { order: 2 })
    await rt.configs.reconcile()
    await rt.run([event({ event: 'click' }), event({ event: '$snapshot' })])
    expect(seen.sort()).toEqual(['onEvent:click', 'onSnapshot:$snapshot', 'processEvent:click'])
    const byName = Object.fromEntries(rt.sink.events.map((e) => [e.event, e.properties[PLUGINS_DEFERRED]]))
    expect(byName.click).toEqual([`events (${events.id})`])
    expect(byName.$snapshot).toEqual([`snaps (${snaps.id})`])
  })

  it('retries onEvent durably on RetryError: a job due 5 s later, not a sleep', async () => {
    const rt = createTestRuntime({
      flaky: {
        onEvent: () => {
          throw new RetryError('try later')
        },
      },
    })
    const { config } = await rt.install('flaky')
    await rt.configs.reconcile()
    const now = rt.clock.now()
    await rt.run([event()])
    const jobs = [...rt.jobQueue.jobs.values()]
    expect(jobs).toHaveLength(1)
    expect(jobs[0]).toMatchObject({
      kind: 'on-event',
      configId: config.id,
      name: 'onEvent',
      runAt: now + 5_000,
      attempt: 1,
    })
    expect(JSON.parse(jobs[0]?.payload ?? '{}').event).toBe('pageview')
  })

  it('hands exportEvents batches to the job queue, due when the buffer window closes', async () => {
    const rt = createTestRuntime({ exporter: { exportEvents: () => {} } })
    const { config } = await rt.install('exporter', { config: { exportEventsToIgnore: 'ignored' } })
    await rt.configs.reconcile()
    const start = rt.clock.now()
    await rt.run([event(), event({ event: 'ignored' })])
    rt.clock.advance(3_000)
    await rt.run([event()])
    const jobs = [...rt.jobQueue.jobs.values()]
    expect(jobs.map((j) => [j.kind, j.runAt, JSON.parse(j.payload).length])).toEqual([
      ['export-events', start + 10_000, 1],
      ['export-events', start + 10_000, 1],
    ])
    await rt.telemetry.flush()
    expect(rt.metricsSink.values.get(`${config.id}/events_seen`)).toBe(2)
  })

  it('makes an export due at once when the window would pass its byte limit', async () => {
    const rt = createTestRuntime({ exporter: { exportEvents: () => {} } })
    await rt.install('exporter', { config: { exportEventsBufferBytes: 500 } })
    await rt.configs.reconcile()
    const now = rt.clock.now()
    await rt.run([event(), event(), event(), event(), event(), event(), event(), event()])
    const [job] = [...rt.jobQueue.jobs.values()]
    expect(job?.runAt).toBe(now)
  })

  it('hands composeWebhook a PostHogEvent: a Date timestamp and only its six fields (SPEC §4)', async () => {
    const seen: unknown[] = []
    const rt = createTestRuntime({
      hook: {
        composeWebhook: (e: unknown) => {
          seen.push(e)
          return null
        },
      },
    })
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event({ event: 'send', timestamp: '2026-11-21T10:00:00.000Z' })])
    expect(seen).toHaveLength(1)
    const received = seen[0] as Record<string, unknown>
    expect(Object.keys(received).sort()).toEqual([
      'distinct_id',
      'event',
      'properties',
      'team_id',
      'timestamp',
      'uuid',
    ])
    expect(received.timestamp).toEqual(new Date('2026-11-21T10:00:00.000Z'))
  })

  it('turns composeWebhook results into webhook deliveries and logs invalid ones', async () => {
    const rt = createTestRuntime({
      hook: {
        composeWebhook: (e: AnyEvent) =>
          e.event === 'skip'
            ? null
            : e.event === 'bad'
              ? { url: 42 }
              : { url: 'https://hooks.example.com/x', body: JSON.stringify({ e: e.event }) },
      },
    })
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event({ event: 'send' }), event({ event: 'skip' }), event({ event: 'bad' })])
    const jobs = [...rt.jobQueue.jobs.values()]
    expect(jobs.map((j) => [j.kind, JSON.parse(j.payload)])).toEqual([
      ['webhook', { url: 'https://hooks.example.com/x', body: '{"e":"send"}' }],
    ])
    expect(await rt.logs()).toContainEqual(
      expect.stringContaining('composeWebhook returned an invalid webhook'),
    )
  })
})
