import { SluiceError } from '@sluice/core'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { postgresUrl } from '../test/support.js'
import { createPostgresStore, type PostgresStore } from './index.js'
import { MIGRATIONS } from './migrations.js'

const admin = new pg.Pool({ connectionString: postgresUrl, max: 2 })
const run = Math.random().toString(36).slice(2, 8)
const schemas: string[] = []
const opened: PostgresStore[] = []
let counter = 0

const freshSchema = () => {
  counter += 1
  const schema = `sluice_migrations_${run}_${counter}`
  schemas.push(schema)
  return schema
}
const open = async (schema: string) => {
  const store = await createPostgresStore({ url: postgresUrl, schema, poolSize: 2 })
  opened.push(store)
  return store
}

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close()
})
afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await admin.end()
})

describe('migrations', { timeout: 30_000 }, () => {
  it('run on start: a fresh schema gets every table and a record of every version', async () => {
    const schema = freshSchema()
    const store = await open(schema)
    const versions = MIGRATIONS.map((migration) => migration.version)
    expect(store.appliedMigrations).toEqual(versions)
    const { rows: tables } = await admin.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    )
    expect(tables.map((row) => row.table_name)).toEqual([
      'dead_letters',
      'jobs',
      'logs',
      'metrics',
      'migrations',
      'plugin_attachments',
      'plugin_configs',
      'plugins',
      'storage',
    ])
    const { rows: recorded } = await admin.query(
      `SELECT version FROM "${schema}".migrations ORDER BY version`,
    )
    expect(recorded.map((row) => row.version)).toEqual(versions)
  })

  it('eight stores starting at once on one fresh schema: the migrations run exactly once and every store works', async () => {
    const schema = freshSchema()
    const stores = await Promise.all(Array.from({ length: 8 }, () => open(schema)))
    const versions = MIGRATIONS.map((migration) => migration.version)

    const appliers = stores.filter((store) => store.appliedMigrations.length > 0)
    expect(appliers).toHaveLength(1)
    expect(appliers[0]?.appliedMigrations).toEqual(versions)
    expect(stores.flatMap((store) => store.appliedMigrations)).toEqual(versions)

    const { rows } = await admin.query(
      `SELECT version, count(*)::integer AS n FROM "${schema}".migrations GROUP BY version ORDER BY version`,
    )
    expect(rows).toEqual(versions.map((version) => ({ version, n: 1 })))
    const results = await Promise.all(stores.map((store) => store.storage.increment('s', 'started', 1)))
    expect(results.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('a restart finds the schema up to date and applies nothing', async () => {
    const schema = freshSchema()
    const first = await open(schema)
    await first.storage.set('s', 'k', '"kept"')
    await first.close()
    const again = await open(schema)
    expect(again.appliedMigrations).toEqual([])
    expect(await again.storage.get('s', 'k')).toBe('"kept"')
  })

  it('refuses a schema migrated by a newer version, naming the version and what to do', async () => {
    const schema = freshSchema()
    await open(schema)
    await admin.query(`INSERT INTO "${schema}".migrations (version, name) VALUES (9999, 'from the future')`)
    const error = await createPostgresStore({ url: postgresUrl, schema }).then(
      () => undefined,
      (rejection: unknown) => rejection,
    )
    expect(error).toBeInstanceOf(SluiceError)
    expect(error).toMatchObject({ code: 'postgres.schema_too_new', retryable: false })
    expect((error as Error).message).toMatch(/9999.*upgrade/)
  })

  it('fails retryably, without the password, when the server is unreachable', async () => {
    const error = await createPostgresStore({
      url: 'postgres://sluice:s3cret-p4ss@127.0.0.1:1/test',
      connectTimeoutMs: 2_000,
    }).then(
      () => undefined,
      (rejection: unknown) => rejection,
    )
    expect(error).toBeInstanceOf(SluiceError)
    expect(error).toMatchObject({ code: 'postgres.unavailable', retryable: true })
    expect((error as Error).message).toMatch(
      /^\[sluice:postgres\] cannot migrate schema sluice on postgres:\/\/sluice:\*\*\*@127\.0\.0\.1:1\/test/,
    )
    expect((error as Error).message).not.toContain('s3cret')
  })
})
