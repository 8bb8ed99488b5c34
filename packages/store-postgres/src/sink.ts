import { type ProcessedPluginEvent, type Sink, SinkError } from '@sluice/core'
import { createGuard, type StoreContext, storableJsonText } from './context.js'
import type { Queryable } from './driver.js'
import { qualifiedName, quoteIdentifier, validateIdentifier } from './identifiers.js'

/** Options of a Postgres sink (`store.createSink`). */
export interface PostgresSinkOptions {
  /** The table to write to; created on the first write if missing. Lowercase letters, digits, `_`. */
  table: string
  /**
   * The schema of the table; created if missing.
   * @default the store's schema
   */
  schema?: string
}

/** Events per INSERT statement; larger writes use several statements in one transaction. */
export const SINK_EVENTS_PER_STATEMENT = 1_000

/** Earliest instant a `timestamptz` holds (4713 BC), in epoch ms. */
const MIN_TIMESTAMPTZ_MS = -210_866_803_200_000

/** The statement that creates a sink table; `table` is the quoted, qualified name. */
export function sinkTableDefinition(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uuid text NOT NULL UNIQUE,
    team_id bigint NOT NULL,
    distinct_id text NOT NULL,
    event text NOT NULL,
    timestamp timestamptz,
    ip text,
    properties jsonb NOT NULL,
    set_properties jsonb,
    set_once_properties jsonb,
    elements jsonb,
    inserted_at timestamptz NOT NULL DEFAULT now()
  )`
}

/**
 * Creates a {@link Sink} that appends processed events to a table, one row per event in write
 * order (`seq`), with the event's fields as columns and `properties`, `$set`, `$set_once` and
 * `elements` as jsonb. Each write is one multi-row INSERT (several, in one transaction, past
 * {@link SINK_EVENTS_PER_STATEMENT}) and is idempotent on `uuid`: a batch delivered again after a
 * crash adds nothing, and an event whose uuid is already in the table is skipped.
 *
 * Values PostgreSQL cannot store are adapted rather than refused, because a refused write would be
 * delivered again forever: NUL characters and unpaired surrogates in strings become U+FFFD, and a
 * timestamp that does not parse or lies before 4713 BC is stored as NULL.
 */
export function createPostgresSink(context: StoreContext, options: PostgresSinkOptions): Sink {
  const tableName = validateIdentifier('sink table', options.table)
  const schema = validateIdentifier('sink schema', options.schema ?? context.schema)
  const table = qualifiedName(schema, tableName)
  const guard = createGuard(context, SinkError, 'sink')
  const { driver } = context

  const insert = `
    INSERT INTO ${table}
      (uuid, team_id, distinct_id, event, timestamp, ip, properties, set_properties, set_once_properties, elements)
    SELECT uuid, team_id, distinct_id, event,
      CASE WHEN timestamp_ms >= ${MIN_TIMESTAMPTZ_MS} THEN to_timestamp(timestamp_ms / 1000) END,
      ip, coalesce(properties, '{}'::jsonb), set_properties, set_once_properties, elements
    FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (
      uuid text, team_id bigint, distinct_id text, event text, timestamp_ms float8, ip text,
      properties jsonb, set_properties jsonb, set_once_properties jsonb, elements jsonb
    )) WITH ORDINALITY AS input (
      uuid, team_id, distinct_id, event, timestamp_ms, ip,
      properties, set_properties, set_once_properties, elements, position
    )
    ORDER BY position
    ON CONFLICT (uuid) DO NOTHING`

  let ready: Promise<void> | undefined
  const ensureTable = () => {
    ready ??= driver
      .transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`sluice:sink:${table}`])
        await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`)
        await tx.query(sinkTableDefinition(table))
      })
      .catch((error: unknown) => {
        ready = undefined
        throw error
      })
    return ready
  }

  const writeChunk = (db: Queryable, events: readonly ProcessedPluginEvent[]) =>
    db.query(insert, [storableJsonText(events.map(toRow))])

  return {
    name: `postgres:${schema}.${tableName}`,

    write: (events) =>
      guard('write', async () => {
        if (events.length === 0) return
        await ensureTable()
        if (events.length <= SINK_EVENTS_PER_STATEMENT) {
          await writeChunk(driver, events)
          return
        }
        await driver.transaction(async (tx) => {
          for (let start = 0; start < events.length; start += SINK_EVENTS_PER_STATEMENT) {
            await writeChunk(tx, events.slice(start, start + SINK_EVENTS_PER_STATEMENT))
          }
        })
      }),

    // Nothing is buffered: every write resolved only after its rows committed. The store owns the
    // connections, so closing the sink leaves them open.
    async close() {},
  }
}

function toRow(event: ProcessedPluginEvent) {
  const time = Date.parse(event.timestamp)
  return {
    uuid: event.uuid,
    team_id: event.team_id,
    distinct_id: event.distinct_id,
    event: event.event,
    timestamp_ms: Number.isFinite(time) ? time : null,
    ip: event.ip,
    properties: event.properties ?? {},
    set_properties: event.$set ?? null,
    set_once_properties: event.$set_once ?? null,
    elements: event.elements ?? null,
  }
}
