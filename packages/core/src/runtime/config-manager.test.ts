import { describe, expect, it } from 'vitest'
import { createTestRuntime, event } from '../../test/harness.js'
import { RetryError } from '../errors.js'

describe('setupPlugin', () => {
  it('keeps a config out of the pipeline until setup succeeds, retrying RetryError durably after 5 s', async () => {
    let setups = 0
    const rt = createTestRuntime({
      slowStart: {
        setupPlugin: () => {
          setups += 1
          if (setups === 1) throw new RetryError('database not ready')
        },
        processEvent: (e: Record<string, unknown>) => ({ ...e, event: 'seen' }),
      },
    })
    const { config } = await rt.install('slowStart')
    await rt.configs.reconcile()
    expect(rt.configs.get(config.id)?.status).toBe('setting-up')
    await rt.run([event()])
    expect(rt.sink.events.map((e) => e.event)).toEqual(['pageview'])
    const [job] = [...rt.jobQueue.jobs.values()]
    expect(job).toMatchObject({
      kind: 'setup-retry',
      configId: config.id,
      runAt: rt.clock.now() + 5_000,
      attempt: 1,
    })
    rt.clock.advance(5_000)
    await rt.jobs.runDue()
    expect(setups).toBe(2)
    expect(rt.configs.get(config.id)?.status).toBe('ready')
    await rt.run([event()])
    expect(rt.sink.events.map((e) => e.event)).toEqual(['pageview', 'seen'])
  })

  it('disables the config and records the error when setup throws anything but RetryError', async () => {
    const rt = createTestRuntime({
      broken: {
        setupPlugin: () => {
          throw new TypeError('apiKey is missing')
        },
      },
    })
    const { config } = await rt.install('broken')
    await rt.configs.reconcile()
    const stored = await rt.registry.getConfig(config.id)
    expect(stored?.enabled).toBe(false)
    expect(stored?.error).toMatchObject({ message: 'TypeError: apiKey is missing', source: 'setupPlugin' })
    await rt.configs.reconcile()
    expect(rt.configs.get(config.id)).toBeUndefined()
  })

  it('disables the config after the fifth retry still fails', async () => {
    const rt = createTestRuntime({
      never: {
        setupPlugin: () => {
          throw new RetryError('never ready')
        },
      },
    })
    const { config } = await rt.install('never')
    await rt.configs.reconcile()
    for (const delay of [5_000, 10_000, 20_000, 40_000, 80_000]) {
      expect((await rt.registry.getConfig(config.id))?.enabled).toBe(true)
      rt.clock.advance(delay)
      await rt.jobs.runDue()
    }
    const stored = await rt.registry.getConfig(config.id)
    expect(stored?.enabled).toBe(false)
    expect(stored?.error?.message).toBe('RetryError: never ready')
  })
})

describe('reconcile', () => {
  it('reloads only the config that changed, tearing the old instance down', async () => {
    const events: string[] = []
    const module = (name: string) => ({
      setupPlugin: (meta: { config: { v?: string } }) =>
        void events.push(`setup ${name} ${meta.config.v ?? ''}`.trim()),
      teardownPlugin: () => void events.push(`teardown ${name}`),
      processEvent: (e: unknown) => e,
    })
    const rt = createTestRuntime({ a: module('a'), b: module('b') })
    const manifest = { config: [{ key: 'v', type: 'string' }] }
    const { config: a } = await rt.install('a', { manifest, config: { v: '1' } })
    await rt.install('b', { manifest, config: { v: '1' } })
    await rt.configs.reconcile()
    expect(events).toEqual(['setup a 1', 'setup b 1'])
    await rt.registry.updateConfig(a.id, { config: { v: '2' } })
    await rt.configs.reconcile()
    expect(events).toEqual(['setup a 1', 'setup b 1', 'teardown a', 'setup a 2'])
    await rt.registry.updateConfig(a.id, { enabled: false })
    await rt.configs.reconcile()
    expect(events.at(-1)).toBe('teardown a')
    expect(rt.configs.all().map((c) => c.pluginName)).toEqual(['b'])
  })

  it('compiles a plugin once for all configs of the same version', async () => {
    const rt = createTestRuntime({ shared: { processEvent: (e: unknown) => e } })
    const { plugin } = await rt.install('shared', { teamId: 1 })
    await rt.registry.createConfig({ pluginId: plugin.id, teamId: 2, enabled: true, order: 0, config: {} })
    await rt.configs.reconcile()
    expect(rt.configs.all()).toHaveLength(2)
    expect(rt.sandbox.loads).toBe(1)
  })

  it('disables a config whose instance cannot be created, instead of retrying the load on every reconcile', async () => {
    const rt = createTestRuntime({
      broken: { processEvent: (e: unknown) => e, failInstantiate: 'out of contexts' },
    })
    const { config } = await rt.install('broken')
    await rt.configs.reconcile()
    await rt.configs.reconcile()
    const stored = await rt.registry.getConfig(config.id)
    expect(stored?.enabled).toBe(false)
    expect(stored?.error?.message).toContain('out of contexts')
    expect(rt.sandbox.loads).toBe(1)
  })

  it('disables a config whose stored values no longer fit the schema, naming the field', async () => {
    const rt = createTestRuntime({ strict: { processEvent: (e: unknown) => e } })
    const { config } = await rt.install('strict', {
      manifest: { config: [{ key: 'apiKey', type: 'string', required: true }] },
    })
    await rt.configs.reconcile()
    const stored = await rt.registry.getConfig(config.id)
    expect(stored?.enabled).toBe(false)
    expect(stored?.error?.message).toContain('apiKey')
  })
})

describe('posthog.capture', () => {
  it('re-enters the ingestion queue for the same team, defaulting distinct_id to the plugin name', async () => {
    const rt = createTestRuntime({
      echo: {
        processEvent: async (
          e: { event: string },
          meta: { posthog: { capture(n: string, p?: object): Promise<void> } },
        ) => {
          await meta.posthog.capture('echoed', {
            distinct_id: 'someone',
            timestamp: '2026-01-01T00:00:00Z',
            extra: 1,
          })
          await meta.posthog.capture('anonymous')
          return e
        },
      },
    })
    await rt.install('echo', { teamId: 3 })
    await rt.configs.reconcile()
    await rt.run([event({ team_id: 3 })])
    const produced = (rt.queue.produced.get('events_in') ?? []).map((r) => JSON.parse(r.value))
    expect(produced.map((e) => [e.event, e.team_id, e.distinct_id, e.timestamp, e.properties.extra])).toEqual(
      [
        ['echoed', 3, 'someone', '2026-01-01T00:00:00.000Z', 1],
        ['anonymous', 3, 'echo', new Date(rt.clock.now()).toISOString(), undefined],
      ],
    )
    expect(rt.queue.produced.get('events_in')?.[0]?.key).toBe('3:someone')
  })

  it('drops and records a capture chain deeper than 3', async () => {
    const rt = createTestRuntime({
      looper: {
        onEvent: (_e: unknown, meta: { posthog: { capture(n: string): Promise<void> } }) =>
          meta.posthog.capture('again'),
      },
    })
    await rt.install('looper')
    await rt.configs.reconcile()
    let batch: unknown[] = [event()]
    for (let round = 0; round < 4; round++) {
      await rt.run(batch)
      batch = (rt.queue.produced.get('events_in') ?? []).map((r) => r.value)
      rt.queue.produced.clear()
    }
    expect(batch).toEqual([])
    expect(rt.deadLetters.entries).toHaveLength(1)
    expect(rt.deadLetters.entries[0]?.reason).toMatch(/^capture chain deeper than 3/)
  })
})
