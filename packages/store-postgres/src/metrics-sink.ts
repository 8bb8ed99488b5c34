import { type MetricOperation, type MetricsSink, MetricsSinkError, type MetricUpdate } from '@sluice/core'
import { createGuard, invalidArgument, type StoreContext, tableName, toNumber } from './context.js'
import type { Queryable } from './driver.js'

const OPERATIONS: ReadonlySet<MetricOperation> = new Set(['sum', 'max', 'min'])

function sql(context: StoreContext) {
  const metrics = tableName(context, 'metrics')
  return {
    // One row per metric (the caller folds repeats), sorted, so that concurrent updates of the
    // same metrics lock their rows in the same order and cannot deadlock.
    update: `
      INSERT INTO ${metrics} AS m (config_id, name, operation, value)
      SELECT config_id, name, operation, value
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[])
        AS input (config_id, name, operation, value)
      ORDER BY config_id, name COLLATE "C"
      ON CONFLICT (config_id, name) DO UPDATE SET
        operation = excluded.operation,
        value = CASE excluded.operation
          WHEN 'sum' THEN m.value + excluded.value
          WHEN 'max' THEN greatest(m.value, excluded.value)
          ELSE least(m.value, excluded.value)
        END`,
    read: `SELECT name, value FROM ${metrics} WHERE config_id = $1`,
  }
}

/** One statement's worth of folded updates: at most one per (config, metric). */
type Round = Map<string, MetricUpdate>

/**
 * Folds updates into rounds. Consecutive updates of one metric with the same operation combine
 * (sum adds, max/min keep the extreme); a change of operation on a metric starts its next round,
 * so mixed operations still apply in the order given.
 */
export function foldMetricUpdates(updates: readonly MetricUpdate[]): MetricUpdate[][] {
  const rounds: Round[] = []
  const roundOf = new Map<string, number>()
  for (const update of updates) {
    const key = `${update.configId}\u0000${update.name}`
    let index = roundOf.get(key) ?? 0
    const previous = rounds[index]?.get(key)
    if (previous && previous.operation !== update.operation) index += 1
    roundOf.set(key, index)
    let round = rounds[index]
    if (!round) {
      round = new Map()
      rounds[index] = round
    }
    const current = round.get(key)
    round.set(key, current ? { ...current, value: combine(current, update.value) } : { ...update })
  }
  return rounds.map((round) => [...round.values()])
}

function combine(current: MetricUpdate, value: number): number {
  if (current.operation === 'sum') return current.value + value
  if (current.operation === 'max') return Math.max(current.value, value)
  return Math.min(current.value, value)
}

/**
 * Creates the {@link MetricsSink} over the store's `metrics` table (`config_id`, `name`, `operation`
 * — the last one applied — and `value double precision`). Each update is an `INSERT … ON CONFLICT DO UPDATE` that adds, or keeps
 * the greater or smaller value, in the database, so concurrent updates from any number of
 * processes lose nothing. An invalid update rejects the whole call before anything is written.
 */
export function createPostgresMetricsSink(context: StoreContext): MetricsSink {
  const { driver } = context
  const statements = sql(context)
  const guard = createGuard(context, MetricsSinkError, 'metrics')

  const apply = (db: Queryable, round: readonly MetricUpdate[]) =>
    db.query(statements.update, [
      round.map((update) => update.configId),
      round.map((update) => update.name),
      round.map((update) => update.operation),
      round.map((update) => update.value),
    ])

  return {
    update: (updates) =>
      guard('update', async () => {
        updates.forEach(assertUpdate)
        const rounds = foldMetricUpdates(updates)
        const [only] = rounds
        if (rounds.length === 1 && only) await apply(driver, only)
        else if (rounds.length > 1) {
          await driver.transaction(async (tx) => {
            for (const round of rounds) await apply(tx, round)
          })
        }
      }),

    read: (configId) =>
      guard('read', async () => {
        const { rows } = await driver.query<{ name: string; value: unknown }>(statements.read, [configId])
        return Object.fromEntries(rows.map((row) => [row.name, toNumber(row.value)]))
      }),
  }
}

function assertUpdate(update: MetricUpdate, index: number): void {
  const problem = (message: string) =>
    invalidArgument(MetricsSinkError, 'metrics', `metric update ${index}: ${message}`)
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
