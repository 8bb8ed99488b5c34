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
import { event } from '../../test/harness.js'
import { createInProcessSandbox } from '../../test/in-process-sandbox.js'
import { createManualClock } from '../manual-clock.js'
import type { BatchHandler, QueueMessage } from '../ports/queue.js'
import { createSluiceRuntime } from './runtime.js'

/** Waits, a macrotask at a time, until `done`. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setImmediate(resolve))
  expect(done()).toBe(true)
}

function compose() {
  const clock = createManualClock(Date.UTC(2026, 10, 21))
  const lifecycle: string[] = []
  const queue = createQueueDouble()
  const sink = createSinkDouble()
  const registry = createRegistryDouble(clock)
  const logSink = createLogSinkDouble()
  const deadLetters = createDeadLetterDouble(clock)
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
    deadLetters,
    sandbox: createInProcessSandbox({
      upper: {
        setupPlugin: (meta: { config: { suffix?: string } }) =>
          void lifecycle.push(`setup ${meta.config.suffix ?? ''}`),
        teardownPlugin: () => void lifecycle.push('teardown'),
        processEvent: (e: { event: string }, meta: { config: { suffix?: string } }) => ({
          ...e,
          event: `${e.event.toUpperCase()}${meta.config.suffix ?? ''}`,
        }),
      },
    }),
    instanceId: 'one',
    newUuid: () => 'new-uuid',
    ingestionTopic: 'in',
    consumerGroup: 'workers',
  })
  /** Installs the `upper` plugin for team 1 with the given config values. */
  const install = async (config: Record<string, unknown>) => {
    const plugin = await registry.createPlugin({
      name: 'upper',
      version: 'v1',
      files: { 'plugin.json': '{"name":"upper","config":[{"key":"suffix"}]}', 'index.js': '' },
    })
    return registry.createConfig({ pluginId: plugin.id, teamId: 1, enabled: true, order: 1, config })
  }
  return { clock, lifecycle, queue, sink, registry, logSink, deadLetters, runtime, install }
}

describe('createSluiceRuntime', () => {
  it('loads configs, then consumes the ingestion topic through the pipeline into the sinks', async () => {
    const { queue, sink, runtime, lifecycle, install } = compose()
    await install({ suffix: '!' })
    await runtime.start()
    expect(lifecycle).toEqual(['setup !'])
    expect(queue.consumers.map((c) => [c.topic, c.group])).toEqual([['in', 'workers']])
    await queue.consumers[0]?.handler([
      { id: '0', key: '1:user-1', value: JSON.stringify(event()), deliveryAttempt: 1, publishedAt: 0 },
    ])
    expect(sink.events.map((e) => e.event)).toEqual(['PAGEVIEW!'])
    await runtime.stop()
  })

  it('reloads a changed config on every instance when a change is announced', async () => {
    const { queue, sink, registry, runtime, lifecycle, install } = compose()
    const config = await install({ suffix: '!' })
    await runtime.start()
    await registry.updateConfig(config.id, { config: { suffix: '?' } })
    await runtime.announceConfigChange()
    await runtime.configs.reconcile()
    expect(lifecycle).toEqual(['setup !', 'teardown', 'setup ?'])
    await queue.consumers[0]?.handler([
      { id: '1', key: null, value: JSON.stringify(event()), deliveryAttempt: 1, publishedAt: 0 },
    ])
    expect(sink.events.map((e) => e.event)).toEqual(['PAGEVIEW?'])
    await runtime.stop()
  })

  it('reports the queue lag: the age of the oldest message of the batches being handled, 0 when none is', async () => {
    const { clock, queue, sink, runtime } = compose()
    await runtime.start()
    const releases: (() => void)[] = []
    const write = sink.write
    sink.write = async (events) => {
      await new Promise<void>((resolve) => releases.push(resolve))
      await write(events)
    }
    const handle = queue.consumers[0]?.handler as BatchHandler
    const message = (id: string, ageMs: number): QueueMessage => ({
      id,
      key: null,
      value: JSON.stringify(event()),
      deliveryAttempt: 1,
      publishedAt: clock.now() - ageMs,
    })
    expect(runtime.queueLagMs()).toBe(0)
    const older = handle([message('0', 2_000), message('1', 5_000)])
    const newer = handle([message('2', 1_000)])
    await until(() => releases.length === 2)
    expect(runtime.queueLagMs()).toBe(5_000)
    clock.advance(1_500)
    expect(runtime.queueLagMs()).toBe(6_500)
    releases[0]?.()
    await older
    expect(runtime.queueLagMs()).toBe(2_500)
    releases[1]?.()
    await newer
    expect(runtime.queueLagMs()).toBe(0)
    await runtime.stop()
  })

  it('stops gracefully: stops consuming, tears configs down, flushes logs', async () => {
    const { queue, runtime, lifecycle, logSink, install } = compose()
    await install({})
    await runtime.start()
    runtime.telemetry.log({
      configId: 1,
      teamId: 1,
      level: 'info',
      source: 'system',
      message: 'pending line',
    })
    await runtime.stop()
    expect(queue.consumers[0]?.stopped).toBe(true)
    expect(lifecycle).toEqual(['setup ', 'teardown'])
    expect(logSink.entries.map((e) => e.message)).toContain('pending line')
    expect(runtime.scheduler.isLeader()).toBe(false)
  })

  it('replays dead letters to the ingestion topic it consumes', async () => {
    const { queue, deadLetters, runtime } = compose()
    const [id] = await deadLetters.put([
      { source: 'ingestion', reason: 'not valid JSON', payload: '{', teamId: null, configId: null },
    ])
    expect(await runtime.replayDeadLetters([id as string, 'gone'])).toEqual({
      results: [
        { id, status: 'replayed' },
        { id: 'gone', status: 'not-found' },
      ],
    })
    expect(queue.produced.get('in')).toEqual([{ key: null, value: '{' }])
  })
})
