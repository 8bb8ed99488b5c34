import { describe, expect, it } from 'vitest'
import {
  createBusDouble,
  createCacheDouble,
  createDeadLetterDouble,
  createJobQueueDouble,
  createLockDouble,
  createLogSinkDouble,
  createMetricsSinkDouble,
  createQueueDouble,
  createRegistryDouble,
  createSinkDouble,
  createStorageDouble,
} from '../../test/doubles.js'
import { createTestRuntime, event } from '../../test/harness.js'
import { createInProcessSandbox } from '../../test/in-process-sandbox.js'
import { ValidationError } from '../errors.js'
import { createManualClock } from '../manual-clock.js'
import type { Fetch } from '../ports/fetch.js'
import { PLUGINS_DEFERRED, PLUGINS_FAILED, PLUGINS_SUCCEEDED } from './pipeline.js'
import { createSluiceRuntime } from './runtime.js'
import { createScheduler } from './scheduler.js'

type AnyEvent = { event: string; uuid: string; properties?: Record<string, unknown> }

describe('the health watcher through createSluiceRuntime', () => {
  it('degrades, pauses (longer each time), then disables a plugin that throws on every event; re-enabling starts it healthy', async () => {
    const clock = createManualClock(Date.UTC(2026, 10, 21))
    const queue = createQueueDouble()
    const sink = createSinkDouble()
    const registry = createRegistryDouble(clock)
    const logSink = createLogSinkDouble()
    let calls = 0
    const runtime = createSluiceRuntime({
      clock,
      queue,
      sinks: [sink],
      cache: createCacheDouble(),
      storage: createStorageDouble(),
      jobQueue: createJobQueueDouble(),
      lock: createLockDouble(),
      bus: createBusDouble(),
      registry,
      logSink,
      metricsSink: createMetricsSinkDouble(),
      deadLetters: createDeadLetterDouble(clock),
      sandbox: createInProcessSandbox({
        broken: {
          processEvent: () => {
            calls += 1
            throw new TypeError("Cannot read properties of undefined (reading 'x')")
          },
        },
      }),
      instanceId: 'one',
      newUuid: () => 'new-uuid',
    })
    const plugin = await registry.createPlugin({
      name: 'broken',
      version: 'v1',
      files: { 'plugin.json': '{"name":"broken"}', 'index.js': '' },
    })
    const config = await registry.createConfig({
      pluginId: plugin.id,
      teamId: 1,
      enabled: true,
      order: 1,
      config: {},
    })
    await runtime.start()
    const consume = async (count: number) => {
      const before = sink.events.length
      await queue.consumers[0]?.handler(
        Array.from({ length: count }, (_, i) => ({
          id: String(i),
          key: '1:user-1',
          value: JSON.stringify(event()),
          deliveryAttempt: 1,
          publishedAt: clock.now(),
        })),
      )
      return sink.events.slice(before)
    }
    const status = () => runtime.health.get(config.id)?.status

    expect(runtime.health.get(config.id)).toMatchObject({ status: 'healthy', budget: 100, capacity: 100 })
    await consume(51)
    expect(runtime.health.get(config.id)).toMatchObject({ status: 'degraded', budget: 49, recentErrors: 51 })
    const paused = await consume(49)
    expect(paused.every((e) => (e.properties[PLUGINS_FAILED] as string[]).length === 1)).toBe(true)
    expect(runtime.health.get(config.id)).toMatchObject({
      status: 'paused',
      budget: 0,
      pausedUntil: clock.now() + 60_000,
      recentPauses: 1,
    })

    // Paused: events pass on as they are, the plugin is not called.
    const skipped = await consume(5)
    expect(calls).toBe(100)
    expect(skipped.map((e) => [e.properties[PLUGINS_SUCCEEDED], e.properties[PLUGINS_FAILED]])).toEqual(
      Array(5).fill([undefined, undefined]),
    )

    // Resumed with 25: spends it, and is paused twice as long; then four times; then disabled.
    for (const pause of [60_000, 120_000, 240_000]) {
      clock.advance(pause)
      expect(status()).toBe('degraded')
      await consume(25)
      expect(status()).toBe(pause === 240_000 ? 'disabled' : 'paused')
    }
    await runtime.health.flush()
    await runtime.configs.reconcile()
    const record = await registry.getConfig(config.id)
    expect(record?.enabled).toBe(false)
    expect(record?.error).toMatchObject({ source: 'health', time: clock.now() })
    expect(record?.error?.message).toMatch(
      /^disabled by the health watcher: budget spent again after 3 pauses within 60 min \(\d+ errors/,
    )
    expect(runtime.configs.get(config.id)).toBeUndefined()
    expect(runtime.health.get(config.id)?.status).toBe('disabled')
    expect(runtime.health.list().map((h) => h.configId)).toEqual([config.id])

    await runtime.telemetry.flush()
    const transitions = logSink.entries
      .filter((e) => e.message.startsWith('health: '))
      .map((e) => `${e.level} ${e.message.split(':')[1]?.trim()}`)
    expect(transitions).toEqual([
      'warn healthy → degraded',
      'warn degraded → paused',
      'info paused → degraded',
      'warn degraded → paused',
      'info paused → degraded',
      'warn degraded → paused',
      'info paused → degraded',
      'error degraded → disabled',
    ])
    expect(logSink.entries.every((e) => e.configId === config.id && e.source !== 'plugin')).toBe(true)

    // The operator re-enables it: reloaded at a new revision, it starts healthy.
    await registry.updateConfig(config.id, { enabled: true, error: null })
    await runtime.configs.reconcile()
    expect(runtime.health.get(config.id)).toMatchObject({ status: 'healthy', budget: 100 })
    await consume(1)
    expect(calls).toBe(176)
    await runtime.stop()
  })
})

describe('createHealthWatcher', () => {
  it('charges slow calls: 0.5 for a processEvent that takes 10 s', async () => {
    const rt = createTestRuntime({})
    const slow = createTestRuntime({
      slow: {
        processEvent: (e: AnyEvent) => {
          slow.clock.advance(10_000)
          return e
        },
      },
    })
    const { config } = await slow.install('slow')
    await slow.configs.reconcile()
    await slow.run([event()])
    expect(slow.health.get(config.id)).toMatchObject({
      status: 'healthy',
      budget: 99.5,
      recentErrors: 0,
      recentSlowCalls: 1,
      lastReason: 'processEvent took 10000 ms per call',
    })
    expect(rt.health.list()).toEqual([])
  })

  it('counts a batch slow by the longest lane: five calls of one user taking 50 s are five slow calls', async () => {
    const rt = createTestRuntime({
      slow: {
        onEvent: () => {
          rt.clock.advance(10_000)
        },
      },
    })
    const { config } = await rt.install('slow')
    await rt.configs.reconcile()
    await rt.run(Array.from({ length: 5 }, () => event()))
    expect(rt.health.get(config.id)).toMatchObject({ recentSlowCalls: 5, budget: 97.5 })
    // Fast calls are not slow, however long the whole batch: 15 s for 5 calls in each of 2 lanes.
    const fast = createTestRuntime({ quick: { onEvent: () => void fast.clock.advance(1_500) } })
    const { config: quick } = await fast.install('quick')
    await fast.configs.reconcile()
    await fast.run(Array.from({ length: 10 }, (_, i) => event({ distinct_id: `user-${i % 2}` })))
    expect(fast.health.get(quick.id)).toMatchObject({ recentSlowCalls: 0, budget: 100 })
  })

  it('does not charge setupPlugin failures (setup has its own retry-then-disable rule)', async () => {
    let tries = 0
    const rt = createTestRuntime({
      shaky: {
        setupPlugin: () => {
          tries += 1
          if (tries === 1) throw new Error('warming up')
        },
        processEvent: (e: AnyEvent) => e,
      },
    })
    const { config } = await rt.install('shaky')
    await rt.configs.reconcile()
    expect((await rt.registry.getConfig(config.id))?.error?.source).toBe('setupPlugin')
    expect(rt.health.get(config.id)).toMatchObject({ status: 'healthy', budget: 100, recentErrors: 0 })
  })

  it('holds a paused config’s work: events are deferred to jobs due when the pause ends, which then run', async () => {
    const seen: string[] = []
    const delivered: string[] = []
    const fetch: Fetch = {
      async request(request) {
        delivered.push(`${request.url} ${request.body}`)
        return { status: 200, statusText: 'OK', headers: {}, body: new Uint8Array() }
      },
    }
    const rt = createTestRuntime(
      {
        busy: {
          processEvent: (e: AnyEvent) => {
            seen.push(`processEvent:${e.uuid}`)
            return e
          },
          onEvent: (e: AnyEvent) => void seen.push(`onEvent:${e.uuid}`),
          onSnapshot: (e: AnyEvent) => void seen.push(`onSnapshot:${e.uuid}`),
          exportEvents: (events: AnyEvent[]) => void seen.push(`exportEvents:${events.map((e) => e.uuid)}`),
          composeWebhook: (e: AnyEvent) => ({ url: 'https://hooks.example.com/in', body: e.uuid }),
          jobs: { work: (payload: string) => void seen.push(`job:${payload}`) },
        },
      },
      { fetch },
    )
    const { config } = await rt.install('busy')
    await rt.configs.reconcile()
    const pauseEnds = rt.clock.now() + 30_000
    expect(rt.health.pause(config.id, 30_000)).toMatchObject({
      status: 'paused',
      pausedUntil: pauseEnds,
      recentPauses: 0,
      lastReason: 'paused by the operator for 30 s',
    })
    await rt.jobQueue.enqueue([
      { kind: 'plugin-job', configId: config.id, name: 'work', payload: '"now"', runAt: rt.clock.now() },
    ])
    const click = event({ event: 'click' })
    const snapshot = event({ event: '$snapshot' })
    await rt.run([click, snapshot])
    await rt.jobs.runDue()
    expect(seen).toEqual([])
    const tag = `busy (${config.id})`
    expect(
      rt.sink.events.map((e) => [e.event, e.properties[PLUGINS_DEFERRED], e.properties[PLUGINS_SUCCEEDED]]),
    ).toEqual([
      ['click', [tag], undefined],
      ['$snapshot', [tag], undefined],
    ])
    expect(
      [...rt.jobQueue.jobs.values()]
        .map((j) => [j.kind, j.runAt])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    ).toEqual([
      ['compose-webhook', pauseEnds],
      ['export-events', rt.clock.now() + 10_000],
      ['on-event', pauseEnds],
      ['on-snapshot', pauseEnds],
      ['plugin-job', pauseEnds],
    ])

    rt.clock.advance(10_000)
    await rt.jobs.runDue()
    expect(seen).toEqual([])
    rt.clock.advance(20_000)
    await rt.jobs.runDue()
    await rt.jobs.runDue()
    expect(seen.sort()).toEqual(
      [
        `exportEvents:${click.uuid}`,
        'job:now',
        `onEvent:${click.uuid}`,
        `onSnapshot:${snapshot.uuid}`,
      ].sort(),
    )
    expect(delivered).toEqual([`https://hooks.example.com/in ${click.uuid}`])
    expect(await rt.jobQueue.count()).toBe(0)
    expect(rt.health.get(config.id)?.status).toBe('healthy')
    // Running again: processEvent is called for new events.
    await rt.run([event()])
    expect(seen.filter((s) => s.startsWith('processEvent'))).toHaveLength(1)
  })

  it('skips a paused config’s schedules', async () => {
    let runs = 0
    const rt = createTestRuntime({
      ticker: {
        runEveryMinute: () => {
          runs += 1
        },
      },
    })
    const { config } = await rt.install('ticker')
    await rt.configs.reconcile()
    const scheduler = createScheduler({
      clock: rt.clock,
      lock: createLockDouble(),
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'one',
      health: rt.health,
    })
    scheduler.start()
    await Promise.resolve()
    await scheduler.runPeriod('runEveryMinute')
    rt.health.pause(config.id, 60_000)
    await scheduler.runPeriod('runEveryMinute')
    expect(runs).toBe(1)
    await scheduler.stop()
  })

  it('resets a config to healthy with a full budget and no pause history, logging it', async () => {
    const rt = createTestRuntime({
      broken: {
        processEvent: () => {
          throw new Error('boom')
        },
      },
    })
    const { config } = await rt.install('broken')
    await rt.configs.reconcile()
    await rt.run(Array.from({ length: 100 }, () => event()))
    expect(rt.health.get(config.id)?.status).toBe('paused')
    expect(rt.health.reset(config.id)).toMatchObject({
      status: 'healthy',
      budget: 100,
      recentErrors: 0,
      recentPauses: 0,
      pausedUntil: null,
      lastReason: 'reset by the operator: a full budget',
    })
    expect(await rt.logs()).toContain('info: health: paused → healthy: reset by the operator: a full budget')
    await rt.run([event()])
    expect(rt.health.get(config.id)?.budget).toBe(99)
  })

  it('starts a config healthy again when it is reloaded (edited here)', async () => {
    const rt = createTestRuntime({
      broken: {
        processEvent: () => {
          throw new Error('boom')
        },
      },
    })
    const { config } = await rt.install('broken')
    await rt.configs.reconcile()
    await rt.run(Array.from({ length: 60 }, () => event()))
    expect(rt.health.get(config.id)?.status).toBe('degraded')
    await rt.registry.updateConfig(config.id, { order: 5 })
    await rt.configs.reconcile()
    expect(rt.health.get(config.id)).toMatchObject({ status: 'healthy', budget: 100 })
  })

  it('answers null for a config not loaded here, refuses a pause that is not a positive duration, and keeps a disabled config disabled', async () => {
    const rt = createTestRuntime({
      broken: {
        processEvent: () => {
          throw new Error('boom')
        },
      },
    })
    expect(rt.health.get(42)).toBeNull()
    expect(rt.health.reset(42)).toBeNull()
    expect(rt.health.pause(42, 1_000)).toBeNull()
    expect(() => rt.health.pause(42, 0)).toThrow(ValidationError)
    expect(() => rt.health.pause(42, Number.NaN)).toThrow(
      /must be a positive number of milliseconds, got NaN/,
    )

    const { config } = await rt.install('broken')
    await rt.configs.reconcile()
    await rt.run(Array.from({ length: 100 }, () => event()))
    for (const _ of [1, 2, 3]) {
      rt.clock.advanceTo(rt.health.get(config.id)?.pausedUntil ?? rt.clock.now())
      await rt.run(Array.from({ length: 25 }, () => event()))
    }
    expect(rt.health.get(config.id)?.status).toBe('disabled')
    await rt.health.flush()
    expect(rt.announcements()).toBe(1)
    expect(rt.health.pause(config.id, 1_000)?.status).toBe('disabled')
  })
})
