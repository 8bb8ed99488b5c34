import type { MetricsSink, MetricUpdate } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { namespaceNumber } from './namespace-number.js'
import { type AdapterFactory, createSuiteHarness, type SuiteOptions } from './support.js'

/**
 * The MetricsSink conformance suite. Config ids are derived from the test's namespace, so a shared
 * store is fine. The MetricsSink port declares no capabilities: pass `{}`.
 *
 * @example
 * describeMetricsSinkConformance('memory', () => createMemoryMetricsSink(), {})
 */
export function describeMetricsSinkConformance(
  name: string,
  factory: AdapterFactory<MetricsSink>,
  _capabilities: Readonly<Record<string, never>> = {},
  options: SuiteOptions<MetricsSink> = {},
): void {
  const real = options.time === 'real'

  describe(`MetricsSink conformance: ${name}`, { timeout: real ? 60_000 : 10_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let configId = 0

    beforeEach(() => {
      configId = namespaceNumber(harness.begin().namespace)
    })
    afterEach(() => harness.end())

    const update = (
      metric: string,
      operation: MetricUpdate['operation'],
      value: number,
      config = configId,
    ): MetricUpdate => ({ configId: config, name: metric, operation, value })

    it('reads {} for a config without metrics', async () => {
      const metrics = await harness.create()
      expect(await metrics.read(configId)).toEqual({})
    })

    it('sum adds every value, within and across updates', async () => {
      const metrics = await harness.create()
      await metrics.update([update('rows', 'sum', 3), update('rows', 'sum', 4)])
      await metrics.update([update('rows', 'sum', 10)])
      await metrics.update([update('rows', 'sum', -2), update('rows', 'sum', 1.25)])
      expect(await metrics.read(configId)).toEqual({ rows: 16.25 })
    })

    it('max keeps the largest value and min the smallest, the first value included', async () => {
      const metrics = await harness.create()
      await metrics.update([update('peak', 'max', -5), update('low', 'min', 5)])
      expect(await metrics.read(configId)).toEqual({ peak: -5, low: 5 })
      await metrics.update([update('peak', 'max', -7), update('low', 'min', 9)])
      expect(await metrics.read(configId)).toEqual({ peak: -5, low: 5 })
      await metrics.update([update('peak', 'max', 12), update('peak', 'max', 8), update('low', 'min', -1)])
      expect(await metrics.read(configId)).toEqual({ peak: 12, low: -1 })
    })

    it('keeps each config’s metrics apart', async () => {
      const metrics = await harness.create()
      const other = configId + 1
      await metrics.update([
        update('rows', 'sum', 1),
        update('rows', 'sum', 100, other),
        update('only', 'max', 3, other),
      ])
      expect(await metrics.read(configId)).toEqual({ rows: 1 })
      expect(await metrics.read(other)).toEqual({ rows: 100, only: 3 })
      expect(await metrics.read(configId + 2)).toEqual({})
    })

    it('loses no update when many run at once', async () => {
      const metrics = await harness.create()
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          metrics.update([update('count', 'sum', 1), update('peak', 'max', i), update('low', 'min', i)]),
        ),
      )
      expect(await metrics.read(configId)).toEqual({ count: 100, peak: 99, low: 0 })
    })
  })
}
