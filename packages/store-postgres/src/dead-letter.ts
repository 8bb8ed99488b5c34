import {
  type DeadLetter,
  DeadLetterError,
  type DeadLetterQuery,
  type DeadLetterSource,
  type DeadLetterStore,
  type NewDeadLetter,
} from '@sluice/core'
import {
  createGuard,
  invalidArgument,
  type StoreContext,
  storableText,
  tableName,
  toNullableNumber,
  toNumber,
} from './context.js'
import type { Row } from './driver.js'

const DEFAULT_LIST_LIMIT = 100
/** Digits of a bigint's largest value: every id padded to this sorts as a string in numeric order. */
export const DEAD_LETTER_ID_DIGITS = 19
const PADDED_ID = /^[0-9]{19}$/

const COLUMNS = 'id, source, reason, payload, team_id, config_id, created_at_ms'

function sql(context: StoreContext) {
  const deadLetters = tableName(context, 'dead_letters')
  const filters = `
        ($1::text IS NULL OR source = $1)
        AND ($2::bigint IS NULL OR config_id = $2)
        AND ($3::bigint IS NULL OR team_id = $3)`
  return {
    put: `
      INSERT INTO ${deadLetters} (source, reason, payload, team_id, config_id, created_at_ms)
      SELECT source, reason, payload, team_id, config_id, $6
      FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::bigint[])
        WITH ORDINALITY AS input (source, reason, payload, team_id, config_id, position)
      ORDER BY position
      RETURNING id`,
    list: `
      SELECT ${COLUMNS} FROM ${deadLetters}
      WHERE ${filters} AND ($4::bigint IS NULL OR id > $4)
      ORDER BY id
      LIMIT $5`,
    // An `after` that is not a padded id still pages by string order, as the port defines it.
    listAfterText: `
      SELECT ${COLUMNS} FROM ${deadLetters}
      WHERE ${filters} AND lpad(id::text, ${DEAD_LETTER_ID_DIGITS}, '0') COLLATE "C" > $4::text COLLATE "C"
      ORDER BY id
      LIMIT $5`,
    get: `SELECT ${COLUMNS} FROM ${deadLetters} WHERE id = $1`,
    delete: `DELETE FROM ${deadLetters} WHERE id = ANY ($1::bigint[])`,
  }
}

/** The id of a row: its bigint zero-padded to 19 digits, so ids sort as strings in insertion order. */
export function deadLetterId(id: unknown): string {
  return String(id).padStart(DEAD_LETTER_ID_DIGITS, '0')
}

/** The bigint of a well-formed id, or undefined for anything this store never handed out. */
export function parseDeadLetterId(id: unknown): string | undefined {
  if (typeof id !== 'string' || !PADDED_ID.test(id)) return undefined
  const value = BigInt(id)
  return value >= 1n && value <= 9223372036854775807n ? value.toString() : undefined
}

/**
 * Creates the {@link DeadLetterStore} over the store's `dead_letters` table. Ids are the bigint
 * identity zero-padded to 19 digits. The payload is kept as UTF-8 bytes (`bytea`), so any input —
 * NUL characters included — is kept exactly; in the reason, characters PostgreSQL text cannot hold
 * become U+FFFD.
 */
export function createPostgresDeadLetterStore(context: StoreContext): DeadLetterStore {
  const { driver, clock } = context
  const statements = sql(context)
  const guard = createGuard(context, DeadLetterError, 'dead-letter')
  const encoder = new TextEncoder()

  return {
    put: (entries) =>
      guard('put', async () => {
        entries.forEach(assertNewDeadLetter)
        if (entries.length === 0) return []
        const { rows } = await driver.query<{ id: unknown }>(statements.put, [
          entries.map((entry) => entry.source),
          entries.map((entry) => storableText(entry.reason)),
          entries.map((entry) => encoder.encode(entry.payload)),
          entries.map((entry) => entry.teamId),
          entries.map((entry) => entry.configId),
          clock.now(),
        ])
        return rows.map((row) => deadLetterId(row.id)).sort()
      }),

    list: (query: DeadLetterQuery = {}) =>
      guard('list', async () => {
        const limit = query.limit ?? DEFAULT_LIST_LIMIT
        if (!Number.isInteger(limit) || limit < 0) {
          throw invalidArgument(
            DeadLetterError,
            'dead-letter',
            `list limit must be a non-negative integer, got ${String(limit)}`,
          )
        }
        if (limit === 0) return []
        const filters = [query.source ?? null, query.configId ?? null, query.teamId ?? null]
        if (query.after === undefined) {
          return (await driver.query(statements.list, [...filters, null, limit])).rows.map(toDeadLetter)
        }
        const after = parseDeadLetterId(query.after)
        const { rows } =
          after === undefined
            ? await driver.query(statements.listAfterText, [...filters, String(query.after), limit])
            : await driver.query(statements.list, [...filters, after, limit])
        return rows.map(toDeadLetter)
      }),

    get: (id) =>
      guard('get', async () => {
        const key = parseDeadLetterId(id)
        if (key === undefined) return null
        const { rows } = await driver.query(statements.get, [key])
        return rows[0] ? toDeadLetter(rows[0]) : null
      }),

    delete: (ids) =>
      guard('delete', async () => {
        const keys = [...new Set(ids.map(parseDeadLetterId).filter((key) => key !== undefined))]
        if (keys.length === 0) return 0
        return (await driver.query(statements.delete, [keys])).rowCount
      }),
  }
}

const decoder = new TextDecoder()

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: deadLetterId(row.id),
    source: row.source as DeadLetterSource,
    reason: row.reason as string,
    payload: decoder.decode(row.payload as Uint8Array),
    teamId: toNullableNumber(row.team_id),
    configId: toNullableNumber(row.config_id),
    createdAt: toNumber(row.created_at_ms),
  }
}

function assertNewDeadLetter(entry: NewDeadLetter, index: number): void {
  const problem = (message: string) =>
    invalidArgument(DeadLetterError, 'dead-letter', `dead letter ${index}: ${message}`)
  if (typeof entry?.source !== 'string' || entry.source.length === 0) {
    throw problem(`source must be a non-empty string, got ${JSON.stringify(entry?.source)}`)
  }
  if (typeof entry.reason !== 'string') throw problem(`reason must be a string, got ${typeof entry.reason}`)
  if (typeof entry.payload !== 'string') {
    throw problem(`payload must be a string (serialize the input), got ${typeof entry.payload}`)
  }
  for (const field of ['teamId', 'configId'] as const) {
    if (entry[field] !== null && !Number.isInteger(entry[field])) {
      throw problem(`${field} must be an integer or null, got ${String(entry[field])}`)
    }
  }
}
