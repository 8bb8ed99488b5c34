import type { MetricOperation } from '../ports/metrics-sink.js'
/**
 * Plugin metrics (SPEC §3 `metrics`): the declaration a plugin exports
 * (`export const metrics = { name: 'sum' | 'max' | 'min' }`), the checks behind
 * `meta.metrics.<name>.increment/max/min(n)`, and how updates combine.
 */

import { MetricsSinkError, ValidationError } from '../errors.js'

/** How a metric's updates combine. */

/** The `meta.metrics.<name>` method a plugin calls: `increment` for sum, `max`, `min`. */
export type MetricMethod = 'increment' | 'max' | 'min'

/** A plugin's declared metrics, by name. */
export type MetricsDeclaration = Readonly<Record<string, MetricOperation>>

const OPERATIONS: readonly MetricOperation[] = ['sum', 'max', 'min']

/** The update method each operation supports. */
const UPDATE_OF: Readonly<Record<MetricOperation, MetricMethod>> = {
  sum: 'increment',
  max: 'max',
  min: 'min',
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

/**
 * Validates a plugin's `metrics` export. Operation names are case-insensitive. `undefined` (no
 * export) declares no metrics.
 *
 * @returns A frozen map from metric name to operation, with no prototype (so a metric may be
 *   called `constructor`).
 * @throws ValidationError (component `metrics`) listing every metric whose type is not `sum`,
 *   `max` or `min`, or when the export is not a plain object; this fails the plugin load.
 * @example
 * parseMetricsDeclaration({ rows: 'SUM', peak: 'max' }) // { rows: 'sum', peak: 'max' }
 */
export function parseMetricsDeclaration(value: unknown): Record<string, MetricOperation> {
  const declared: Record<string, MetricOperation> = Object.create(null)
  if (value === undefined) return Object.freeze(declared)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('metrics', 'invalid metrics declaration', [
      {
        field: 'metrics',
        message: `must be an object such as { name: 'sum' }, got ${describe(value)}`,
      },
    ])
  }
  const problems = []
  for (const [name, type] of Object.entries(value)) {
    const operation = typeof type === 'string' ? type.toLowerCase() : undefined
    if (OPERATIONS.includes(operation as MetricOperation)) {
      declared[name] = operation as MetricOperation
    } else {
      problems.push({
        field: `metrics.${name}`,
        message: `metric '${name}' has unsupported type ${describe(type)} — use 'sum', 'max' or 'min'`,
      })
    }
  }
  if (problems.length > 0) throw new ValidationError('metrics', 'invalid metrics declaration', problems)
  return Object.freeze(declared)
}

/**
 * Checks one `meta.metrics.<name>.<update>(value)` call against the declaration.
 *
 * @throws MetricsSinkError `metrics.unknown` when the metric is not declared.
 * @throws TypeError when the update does not match the metric's operation (`increment` is for
 *   `sum`, `max` for `max`, `min` for `min`); the message says which one the metric supports.
 * @throws MetricsSinkError `metrics.invalid-value` when the value is not a finite number.
 */
export function checkMetricUpdate(
  declared: MetricsDeclaration,
  name: string,
  update: MetricMethod,
  value: unknown,
): void {
  const operation = Object.hasOwn(declared, name) ? declared[name] : undefined
  if (operation === undefined) {
    const names = Object.keys(declared)
    throw new MetricsSinkError(
      `metric '${name}' is not declared — declare it in \`export const metrics\` (declared: ${
        names.length > 0 ? names.join(', ') : 'none'
      })`,
      { retryable: false, code: 'metrics.unknown' },
    )
  }
  const supported = UPDATE_OF[operation]
  if (update !== supported) {
    throw new TypeError(
      `[sluice:metrics] metric '${name}' is a '${operation}' metric: it supports ${supported}(n), not ${String(update)}(n)`,
    )
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new MetricsSinkError(
      `metric '${name}': ${supported}() needs a finite number, got ${describe(value)}`,
      {
        retryable: false,
        code: 'metrics.invalid-value',
      },
    )
  }
}

/**
 * Combines an update with a metric's current value: `sum` adds, `max` and `min` keep the extreme.
 * A metric with no value yet takes the update as is.
 *
 * @example
 * applyMetric('sum', 3, 2) // 5
 * applyMetric('min', undefined, 7) // 7
 */
export function applyMetric(op: MetricOperation, current: number | undefined, value: number): number {
  if (current === undefined) return value
  switch (op) {
    case 'sum':
      return current + value
    case 'max':
      return Math.max(current, value)
    case 'min':
      return Math.min(current, value)
  }
}

/** The metrics Sluice records for every config with `exportEvents` (SPEC §2.1). */
export const EXPORT_METRICS = [
  'events_seen',
  'events_delivered_successfully',
  'retry_errors',
  'other_errors',
  'undelivered_events',
] as const

/** One of {@link EXPORT_METRICS}. */
export type ExportMetricName = (typeof EXPORT_METRICS)[number]

/** The operation of each automatic export metric: all are counters. */
export const EXPORT_METRIC_OPERATIONS: Readonly<Record<ExportMetricName, 'sum'>> = Object.freeze({
  events_seen: 'sum',
  events_delivered_successfully: 'sum',
  retry_errors: 'sum',
  other_errors: 'sum',
  undelivered_events: 'sum',
})

/**
 * A plugin's declaration with the automatic export metrics added, for configs with
 * `exportEvents`. A plugin may declare one of them itself only as `sum`.
 *
 * @throws ValidationError (component `metrics`) when the plugin declares an export metric with
 *   another operation.
 */
export function withExportMetrics(declared: MetricsDeclaration): Record<string, MetricOperation> {
  const merged: Record<string, MetricOperation> = Object.create(null)
  Object.assign(merged, declared)
  const problems = []
  for (const name of EXPORT_METRICS) {
    const own = Object.hasOwn(declared, name) ? declared[name] : undefined
    if (own !== undefined && own !== 'sum') {
      problems.push({
        field: `metrics.${name}`,
        message: `metric '${name}' is recorded automatically for exportEvents as 'sum' and cannot be declared as '${own}'`,
      })
    }
    merged[name] = 'sum'
  }
  if (problems.length > 0) throw new ValidationError('metrics', 'invalid metrics declaration', problems)
  return Object.freeze(merged)
}
