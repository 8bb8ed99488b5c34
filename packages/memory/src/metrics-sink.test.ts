import { describeMetricsSinkConformance } from '@sluice/conformance'
import { MetricsSinkError, type MetricUpdate } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryMetricsSink } from './metrics-sink.js'

describeMetricsSinkConformance('memory', () => createMemoryMetricsSink(), {})

describe('createMemoryMetricsSink', () => {
  it('rejects an invalid update before applying any of the call', async () => {
    const metrics = createMemoryMetricsSink()
    const good: MetricUpdate = { configId: 1, name: 'rows', operation: 'sum', value: 1 }
    await expect(metrics.update([good, { ...good, value: Number.NaN }])).rejects.toBeInstanceOf(
      MetricsSinkError,
    )
    await expect(
      metrics.update([good, { ...good, operation: 'avg' as MetricUpdate['operation'] }]),
    ).rejects.toMatchObject({ code: 'metrics.invalid', retryable: false })
    await expect(metrics.update([{ ...good, name: '' }])).rejects.toThrow(/name/)
    expect(await metrics.read(1)).toEqual({})
  })

  it('reads a copy: changing it changes nothing held', async () => {
    const metrics = createMemoryMetricsSink()
    await metrics.update([{ configId: 1, name: 'rows', operation: 'sum', value: 1 }])
    const read = await metrics.read(1)
    read.rows = 50
    expect(await metrics.read(1)).toEqual({ rows: 1 })
  })
})
