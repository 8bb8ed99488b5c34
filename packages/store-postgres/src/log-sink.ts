import { type LogEntry, type LogLevel, type LogSink, LogSinkError } from '@sluice/core'
import {
  createGuard,
  invalidArgument,
  type StoreContext,
  storableText,
  tableName,
  toNumber,
} from './context.js'
import type { Row } from './driver.js'

/** The `limit` of a query that gives none. */
const DEFAULT_QUERY_LIMIT = 100

/** How long entries are kept unless told otherwise: 7 days. */
export const DEFAULT_LOG_RETENTION_MS = 7 * 24 * 60 * 60 * 1000

/** Appends prune old entries at most this often (by the store's clock). */
const PRUNE_INTERVAL_MS = 60_000

/** Options of the Postgres log sink. */
export interface PostgresLogSinkOptions {
  /** Entries older than this (by their timestamp) are deleted; `null` keeps them forever. */
  retentionMs: number | null
}

function sql(context: StoreContext) {
  const logs = tableName(context, 'logs')
  return {
    append: `
      INSERT INTO ${logs} (config_id, team_id, level, source, message, logged_at_ms, instance_id)
      SELECT config_id, team_id, level, source, message, logged_at_ms, instance_id
      FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[])
        WITH ORDINALITY AS input (config_id, team_id, level, source, message, logged_at_ms, instance_id, position)
      ORDER BY position`,
    // strpos matches the search text literally (no LIKE wildcards to escape). Ties in time go to the
    // later-appended entry first.
    query: `
      SELECT config_id, team_id, level, source, message, logged_at_ms, instance_id FROM ${logs}
      WHERE config_id = $1
        AND ($2::float8 IS NULL OR logged_at_ms >= $2)
        AND ($3::text[] IS NULL OR level = ANY ($3))
        AND ($4::text IS NULL OR strpos(message, $4) > 0)
      ORDER BY logged_at_ms DESC, id DESC
      LIMIT $5`,
    prune: `DELETE FROM ${logs} WHERE logged_at_ms < $1`,
  }
}

/**
 * Creates the {@link LogSink} over the store's `logs` table: one multi-row INSERT per append,
 * queries newest first by the `(config_id, logged_at_ms)` index. Text PostgreSQL cannot store
 * (NUL characters, unpaired surrogates) becomes U+FFFD rather than losing the entry. Before an
 * append, at most once a minute, entries older than the retention are deleted; a failed prune is
 * reported to `onError` and does not fail the append.
 */
export function createPostgresLogSink(context: StoreContext, options: PostgresLogSinkOptions): LogSink {
  const { driver, clock } = context
  const statements = sql(context)
  const guard = createGuard(context, LogSinkError, 'log-sink')
  let nextPruneAt = Number.NEGATIVE_INFINITY

  const prune = async () => {
    const now = clock.now()
    if (options.retentionMs === null || now < nextPruneAt) return
    nextPruneAt = now + PRUNE_INTERVAL_MS
    try {
      await driver.query(statements.prune, [now - options.retentionMs])
    } catch (error) {
      context.onError(error)
    }
  }

  return {
    append: (entries) =>
      guard('append', async () => {
        if (entries.length === 0) return
        entries.forEach(assertEntry)
        await prune()
        await driver.query(statements.append, [
          entries.map((entry) => entry.configId),
          entries.map((entry) => entry.teamId),
          entries.map((entry) => entry.level),
          entries.map((entry) => entry.source),
          entries.map((entry) => storableText(entry.message)),
          entries.map((entry) => entry.timestamp),
          entries.map((entry) => storableText(entry.instanceId)),
        ])
      }),

    query: (query) =>
      guard('query', async () => {
        const limit = query.limit ?? DEFAULT_QUERY_LIMIT
        if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
          throw invalidArgument(
            LogSinkError,
            'log-sink',
            `query limit must be a non-negative number, got ${limit}`,
          )
        }
        if (Math.floor(limit) === 0) return []
        const { rows } = await driver.query(statements.query, [
          query.configId,
          query.since ?? null,
          query.levels ? [...query.levels] : null,
          query.search === undefined ? null : storableText(query.search),
          Number.isFinite(limit) ? Math.floor(limit) : null,
        ])
        return rows.map(toEntry)
      }),
  }
}

function assertEntry(entry: LogEntry, index: number): void {
  const problem = (message: string) =>
    invalidArgument(LogSinkError, 'log-sink', `log entry ${index}: ${message}`)
  if (!Number.isInteger(entry?.configId)) throw problem(`configId must be an integer, got ${entry?.configId}`)
  if (!Number.isInteger(entry.teamId)) throw problem(`teamId must be an integer, got ${entry.teamId}`)
  if (typeof entry.timestamp !== 'number' || !Number.isFinite(entry.timestamp)) {
    throw problem(`timestamp must be a finite epoch-ms number, got ${entry.timestamp}`)
  }
  for (const field of ['level', 'source', 'message', 'instanceId'] as const) {
    if (typeof entry[field] !== 'string')
      throw problem(`${field} must be a string, got ${typeof entry[field]}`)
  }
}

function toEntry(row: Row): LogEntry {
  return {
    configId: toNumber(row.config_id),
    teamId: toNumber(row.team_id),
    level: row.level as LogLevel,
    source: row.source as LogEntry['source'],
    message: row.message as string,
    timestamp: toNumber(row.logged_at_ms),
    instanceId: row.instance_id as string,
  }
}
