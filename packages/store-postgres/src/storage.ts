import { type Storage, type StorageCapabilities, StorageError } from '@sluice/core'
import { createGuard, invalidArgument, type StoreContext, tableName } from './context.js'

function sql(context: StoreContext) {
  const storage = tableName(context, 'storage')
  return {
    get: `SELECT value::text AS value FROM ${storage} WHERE scope = $1 AND key = $2`,
    set: `
      INSERT INTO ${storage} (scope, key, value) VALUES ($1, $2, $3::jsonb)
      ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value`,
    delete: `DELETE FROM ${storage} WHERE scope = $1 AND key = $2`,
    setIfAbsent: `
      INSERT INTO ${storage} (scope, key, value) VALUES ($1, $2, $3::jsonb)
      ON CONFLICT (scope, key) DO NOTHING
      RETURNING 1 AS inserted`,
    // Arithmetic in float8 is JavaScript's (IEEE 754 double), and float8's text output is the
    // shortest that round-trips, so the stored JSON number is what `JSON.stringify` would write.
    // A stored non-number makes the WHERE false: nothing changes and no row comes back.
    increment: `
      INSERT INTO ${storage} AS s (scope, key, value) VALUES ($1, $2, (($3::float8)::text)::jsonb)
      ON CONFLICT (scope, key) DO UPDATE
        SET value = ((((s.value)::text)::float8 + $3::float8)::text)::jsonb
        WHERE jsonb_typeof(s.value) = 'number'
      RETURNING value::text AS value`,
    current: `SELECT value::text AS value FROM ${storage} WHERE scope = $1 AND key = $2`,
  }
}

/**
 * Creates the {@link Storage} over the store's `storage` table (`scope`, `key`, `value jsonb`).
 * `setIfAbsent` and `increment` are single `INSERT … ON CONFLICT` statements, so they are atomic
 * across every process using the schema.
 */
export function createPostgresStorage(context: StoreContext, capabilities: StorageCapabilities): Storage {
  const { driver } = context
  const statements = sql(context)
  const guard = createGuard(context, StorageError, 'storage')

  return {
    capabilities,

    get: (scope, key) =>
      guard('get', async () => {
        const { rows } = await driver.query<{ value: string }>(statements.get, [scope, key])
        return rows[0]?.value ?? null
      }),

    set: (scope, key, value) =>
      guard('set', async () => {
        assertJson(scope, key, value)
        await driver.query(statements.set, [scope, key, value])
      }),

    delete: (scope, key) =>
      guard('delete', async () => {
        await driver.query(statements.delete, [scope, key])
      }),

    setIfAbsent: (scope, key, value) =>
      guard('setIfAbsent', async () => {
        assertJson(scope, key, value)
        return (await driver.query(statements.setIfAbsent, [scope, key, value])).rows.length > 0
      }),

    increment: (scope, key, by) =>
      guard('increment', async () => {
        if (typeof by !== 'number' || !Number.isFinite(by)) {
          throw invalidArgument(
            StorageError,
            'storage',
            `increment ${scope}/${key}: \`by\` must be a finite number, got ${String(by)}`,
            'invalid_increment',
          )
        }
        let rows: { value: string }[]
        try {
          rows = (await driver.query<{ value: string }>(statements.increment, [scope, key, by])).rows
        } catch (error) {
          if ((error as { code?: unknown })?.code === '22003') {
            throw invalidArgument(
              StorageError,
              'storage',
              `increment ${scope}/${key}: the result overflows a JSON number`,
              'overflow',
            )
          }
          throw error
        }
        const result = rows[0]?.value
        if (result !== undefined) return Number(result)
        const current = (await driver.query<{ value: string }>(statements.current, [scope, key])).rows[0]
          ?.value
        throw invalidArgument(
          StorageError,
          'storage',
          `increment ${scope}/${key}: the stored value ${truncate(current ?? '')} is not a JSON number — ` +
            'use a key that only ever holds numbers',
          'not_a_number',
        )
      }),
  }
}

function assertJson(scope: string, key: string, value: string): void {
  try {
    if (typeof value !== 'string') throw new TypeError(`expected a string, got ${typeof value}`)
    JSON.parse(value)
  } catch (cause) {
    throw new StorageError(
      `set ${scope}/${key}: the value ${truncate(String(value))} is not JSON text — serialise it with JSON.stringify`,
      { retryable: false, code: 'storage.invalid_json', component: 'postgres', cause },
    )
  }
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
