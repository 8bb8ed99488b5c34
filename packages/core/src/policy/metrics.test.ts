import { describe, expect, it } from 'vitest'
import { MetricsSinkError, ValidationError } from '../errors.js'
import {
  applyMetric,
  checkMetricUpdate,
  EXPORT_METRIC_OPERATIONS,
  EXPORT_METRICS,
  type MetricMethod,
  parseMetricsDeclaration,
  withExportMetrics,
} from './metrics.js'

function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('parseMetricsDeclaration', () => {
  it('reads sum, max and min in any letter case', () => {
    expect({ ...parseMetricsDeclaration({ rows: 'sum', peak: 'MAX', floor: 'Min' }) }).toEqual({
      rows: 'sum',
      peak: 'max',
      floor: 'min',
    })
  })

  it('treats a missing export as no metrics', () => {
    expect(Object.keys(parseMetricsDeclaration(undefined))).toEqual([])
  })

  it('returns a frozen map that inherits nothing, so names like toString are just names', () => {
    const declared = parseMetricsDeclaration({ toString: 'sum' })
    expect(Object.isFrozen(declared)).toBe(true)
    expect(Object.getPrototypeOf(declared)).toBeNull()
    expect(declared.toString).toBe('sum')
    expect(parseMetricsDeclaration({}).constructor).toBeUndefined()
  })

  it('fails the load on another type, naming the metric and the type', () => {
    const error = caught(() => parseMetricsDeclaration({ rows: 'sum', avg_time: 'avg' })) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.component).toBe('metrics')
    expect(error.code).toBe('metrics.invalid')
    expect(error.message).toBe(
      "[sluice:metrics] invalid metrics declaration: metrics.avg_time: metric 'avg_time' has unsupported type 'avg' — use 'sum', 'max' or 'min'",
    )
  })

  it('reports every bad metric at once, including non-string types', () => {
    const error = caught(() =>
      parseMetricsDeclaration({ a: 'count', b: 1, c: null, d: { op: 'sum' } }),
    ) as ValidationError
    expect(error.problems.map((p) => p.field)).toEqual(['metrics.a', 'metrics.b', 'metrics.c', 'metrics.d'])
    expect(error.problems.map((p) => p.message)).toEqual([
      "metric 'a' has unsupported type 'count' — use 'sum', 'max' or 'min'",
      "metric 'b' has unsupported type 1 — use 'sum', 'max' or 'min'",
      "metric 'c' has unsupported type null — use 'sum', 'max' or 'min'",
      "metric 'd' has unsupported type an object — use 'sum', 'max' or 'min'",
    ])
  })

  it.each([
    [null, 'null'],
    ['sum', "'sum'"],
    [42, '42'],
    [['sum'], 'an array'],
  ])('rejects a non-object export %j', (value, shown) => {
    const error = caught(() => parseMetricsDeclaration(value)) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.problems).toEqual([
      { field: 'metrics', message: `must be an object such as { name: 'sum' }, got ${shown}` },
    ])
  })
})

describe('checkMetricUpdate', () => {
  const declared = parseMetricsDeclaration({ rows: 'sum', peak: 'max', floor: 'min' })

  it.each([
    ['rows', 'increment'],
    ['peak', 'max'],
    ['floor', 'min'],
  ] as const)('lets %s take %s', (name, op) => {
    expect(() => checkMetricUpdate(declared, name, op, 3)).not.toThrow()
    expect(() => checkMetricUpdate(declared, name, op, -2.5)).not.toThrow()
    expect(() => checkMetricUpdate(declared, name, op, 0)).not.toThrow()
  })

  it.each([
    ['rows', 'max', "[sluice:metrics] metric 'rows' is a 'sum' metric: it supports increment(n), not max(n)"],
    ['rows', 'min', "[sluice:metrics] metric 'rows' is a 'sum' metric: it supports increment(n), not min(n)"],
    [
      'peak',
      'increment',
      "[sluice:metrics] metric 'peak' is a 'max' metric: it supports max(n), not increment(n)",
    ],
    ['peak', 'min', "[sluice:metrics] metric 'peak' is a 'max' metric: it supports max(n), not min(n)"],
    [
      'floor',
      'increment',
      "[sluice:metrics] metric 'floor' is a 'min' metric: it supports min(n), not increment(n)",
    ],
    ['floor', 'max', "[sluice:metrics] metric 'floor' is a 'min' metric: it supports min(n), not max(n)"],
  ] as const)('throws TypeError for %s.%s', (name, op, message) => {
    const error = caught(() => checkMetricUpdate(declared, name, op, 1))
    expect(error).toBeInstanceOf(TypeError)
    expect((error as TypeError).message).toBe(message)
  })

  it('throws TypeError for an operation that does not exist', () => {
    expect(() => checkMetricUpdate(declared, 'rows', 'decrement' as MetricMethod, 1)).toThrow(TypeError)
  })

  it('rejects an undeclared metric as metrics.unknown, listing the declared ones', () => {
    const error = caught(() => checkMetricUpdate(declared, 'nope', 'increment', 1)) as MetricsSinkError
    expect(error).toBeInstanceOf(MetricsSinkError)
    expect(error.code).toBe('metrics.unknown')
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(
      "[sluice:metrics] metric 'nope' is not declared — declare it in `export const metrics` (declared: rows, peak, floor)",
    )
  })

  it('does not mistake inherited names for declared metrics', () => {
    const error = caught(() =>
      checkMetricUpdate({ rows: 'sum' }, 'toString', 'increment', 1),
    ) as MetricsSinkError
    expect(error.code).toBe('metrics.unknown')
    expect(error.message).toContain('(declared: rows)')
    expect(() => checkMetricUpdate(parseMetricsDeclaration(undefined), 'x', 'max', 1)).toThrow(
      '(declared: none)',
    )
  })

  it.each([
    ['a string', '5', "'5'"],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object', { n: 1 }, 'an object'],
    ['a bigint', 5n, '5'],
  ])('rejects %s as metrics.invalid-value', (_, value, shown) => {
    const error = caught(() => checkMetricUpdate(declared, 'rows', 'increment', value)) as MetricsSinkError
    expect(error).toBeInstanceOf(MetricsSinkError)
    expect(error.code).toBe('metrics.invalid-value')
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(
      `[sluice:metrics] metric 'rows': increment() needs a finite number, got ${shown}`,
    )
  })

  it('checks the operation before the value', () => {
    expect(() => checkMetricUpdate(declared, 'rows', 'max', 'x')).toThrow(TypeError)
  })
})

describe('applyMetric', () => {
  it('sums', () => {
    expect(applyMetric('sum', 3, 2)).toBe(5)
    expect(applyMetric('sum', 3, -5)).toBe(-2)
  })

  it('keeps the maximum', () => {
    expect(applyMetric('max', 3, 2)).toBe(3)
    expect(applyMetric('max', 3, 7)).toBe(7)
    expect(applyMetric('max', -3, -7)).toBe(-3)
  })

  it('keeps the minimum', () => {
    expect(applyMetric('min', 3, 2)).toBe(2)
    expect(applyMetric('min', 3, 7)).toBe(3)
  })

  it.each(['sum', 'max', 'min'] as const)('%s takes the first value as is', (op) => {
    expect(applyMetric(op, undefined, -4)).toBe(-4)
  })

  it('folds a sequence of updates', () => {
    const values = [4, -1, 9, 2]
    expect(values.reduce<number | undefined>((acc, v) => applyMetric('sum', acc, v), undefined)).toBe(14)
    expect(values.reduce<number | undefined>((acc, v) => applyMetric('max', acc, v), undefined)).toBe(9)
    expect(values.reduce<number | undefined>((acc, v) => applyMetric('min', acc, v), undefined)).toBe(-1)
  })
})

describe('export metrics (SPEC §2.1)', () => {
  it('names the five automatic metrics, all sums', () => {
    expect(EXPORT_METRICS).toEqual([
      'events_seen',
      'events_delivered_successfully',
      'retry_errors',
      'other_errors',
      'undelivered_events',
    ])
    expect(EXPORT_METRIC_OPERATIONS).toEqual(Object.fromEntries(EXPORT_METRICS.map((name) => [name, 'sum'])))
  })

  it('adds them to a plugin’s own metrics', () => {
    const merged = withExportMetrics(parseMetricsDeclaration({ rows: 'max', events_seen: 'SUM' }))
    expect({ ...merged }).toEqual({ rows: 'max', ...EXPORT_METRIC_OPERATIONS })
    expect(() => checkMetricUpdate(merged, 'retry_errors', 'increment', 1)).not.toThrow()
  })

  it('refuses a plugin metric that redeclares an export metric with another operation', () => {
    const error = caught(() => withExportMetrics({ other_errors: 'max' })) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.problems).toEqual([
      {
        field: 'metrics.other_errors',
        message:
          "metric 'other_errors' is recorded automatically for exportEvents as 'sum' and cannot be declared as 'max'",
      },
    ])
  })
})
