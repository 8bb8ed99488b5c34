import { describe, expect, it } from 'vitest'
import { createLogSinkDouble, createMetricsSinkDouble } from '../../test/doubles.js'
import { createTestRuntime, event } from '../../test/harness.js'
import { createManualClock } from '../manual-clock.js'
import { CALL_LATENCY_BUCKETS, createTelemetry } from './telemetry.js'

type AnyEvent = { event: string }

/** The cumulative count of a latency's bucket whose upper bound is `le` seconds. */
const bucket = (buckets: readonly number[], le: number) => buckets[CALL_LATENCY_BUCKETS.indexOf(le)]

describe('call latency', () => {
  it('times a batch per call of its longest lane: 4 calls of 2 users taking 3 ms each count as 6 ms each', async () => {
    const rt = createTestRuntime({
      slowish: {
        processEvent: (e: AnyEvent) => {
          rt.clock.advance(3)
          return e
        },
      },
    })
    const { config } = await rt.install('slowish')
    await rt.configs.reconcile()
    await rt.run(Array.from({ length: 4 }, (_, i) => event({ distinct_id: `user-${i % 2}` })))
    const [latency] = rt.telemetry.callLatency(config.id)
    expect(latency).toMatchObject({ fn: 'processEvent', count: 4 })
    expect(latency?.sumSeconds).toBeCloseTo(0.024, 9)
    expect(bucket(latency?.buckets ?? [], 0.005)).toBe(0)
    expect(bucket(latency?.buckets ?? [], 0.01)).toBe(4)
    expect(bucket(latency?.buckets ?? [], 30)).toBe(4)
  })

  it('times single calls, failed ones included, per function', async () => {
    const rt = createTestRuntime({
      scheduled: {
        runEveryMinute: () => {
          rt.clock.advance(40)
          throw new Error('upstream down')
        },
      },
    })
    const { config } = await rt.install('scheduled')
    await rt.configs.reconcile()
    const live = rt.configs.get(config.id)
    await expect(live?.instance.call('runEveryMinute', [])).rejects.toThrow('upstream down')
    const latencies = rt.telemetry.callLatency(config.id)
    expect(latencies).toHaveLength(1)
    expect(latencies[0]).toMatchObject({ fn: 'runEveryMinute', count: 1, sumSeconds: 0.04 })
    expect(bucket(latencies[0]?.buckets ?? [], 0.025)).toBe(0)
    expect(bucket(latencies[0]?.buckets ?? [], 0.05)).toBe(1)
  })
})

describe('telemetry.observeCalls', () => {
  it('counts a call on a bucket’s bound in that bucket, and one past the last bound in the count only', () => {
    const telemetry = createTelemetry({
      clock: createManualClock(0),
      logSink: createLogSinkDouble(),
      metricsSink: createMetricsSinkDouble(),
      instanceId: 'test',
    })
    telemetry.observeCalls(7, 'onEvent', 0.001, 2)
    telemetry.observeCalls(7, 'onEvent', 31, 1)
    const [latency] = telemetry.callLatency(7)
    expect(latency?.buckets[0]).toBe(2)
    expect(latency?.buckets.at(-1)).toBe(2)
    expect(latency).toMatchObject({ count: 3, sumSeconds: 31.002 })
    expect(telemetry.callLatency(8)).toEqual([])
  })
})
