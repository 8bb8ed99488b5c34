import { type MetricOperation, type MetricsSink, MetricsSinkError, type MetricUpdate } from '@sluice/core'

const OPERATIONS: ReadonlySet<MetricOperation> = new Set(['sum', 'max', 'min'])

/**
 * Creates a metrics sink in process memory. `sum` starts from 0; the first `max` or `min` of a
 * metric sets it. An invalid update rejects the whole call before anything is applied.
 *
 * @example
 * const metrics = createMemoryMetricsSink()
 * await metrics.update([{ configId: 1, name: 'rows_exported', operation: 'sum', value: 10 }])
 * await metrics.read(1) // { rows_exported: 10 }
 */
export function createMemoryMetricsSink(): MetricsSink {
  const byConfig = new Map<number, Map<string, number>>()

  return {
    async update(updates) {
      updates.forEach(assertUpdate)
      for (const { configId, name, operation, value } of updates) {
        let metrics = byConfig.get(configId)
        if (!metrics) {
          metrics = new Map()
          byConfig.set(configId, metrics)
        }
        const current = metrics.get(name)
        if (current === undefined) metrics.set(name, value)
        else if (operation === 'sum') metrics.set(name, current + value)
        else if (operation === 'max') metrics.set(name, Math.max(current, value))
        else metrics.set(name, Math.min(current, value))
      }
    },

    async read(configId) {
      return Object.fromEntries(byConfig.get(configId) ?? [])
    },
  }
}

function assertUpdate(update: MetricUpdate, index: number): void {
  const problem = (message: string) =>
    new MetricsSinkError(`metric update ${index}: ${message}`, { retryable: false, code: 'metrics.invalid' })
  if (!Number.isInteger(update?.configId)) {
    throw problem(`configId must be an integer, got ${String(update?.configId)}`)
  }
  if (typeof update.name !== 'string' || update.name.length === 0) {
    throw problem('name must be a non-empty string')
  }
  if (!OPERATIONS.has(update.operation)) {
    throw problem(`operation must be 'sum', 'max' or 'min', got ${JSON.stringify(update.operation)}`)
  }
  if (typeof update.value !== 'number' || !Number.isFinite(update.value)) {
    throw problem(`value of '${update.name}' must be a finite number, got ${String(update.value)}`)
  }
}
