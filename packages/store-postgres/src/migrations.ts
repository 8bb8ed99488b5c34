import { SluiceError } from '@sluice/core'
import type { Driver } from './driver.js'
import { qualifiedName, quoteIdentifier } from './identifiers.js'

/** One step of the schema. Versions only grow; a released migration is never edited. */
export interface Migration {
  version: number
  name: string
  /** The statements, given the quoted schema name (`"sluice"`). Run in order, in one transaction. */
  statements(schema: string): string[]
}

/**
 * Every migration, oldest first. Times are epoch milliseconds in `double precision` columns (a JS
 * number round-trips exactly); `to_timestamp(x / 1000)` shows them as dates.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'registry, storage, jobs, logs, metrics, dead letters',
    statements: (s) => [
      `CREATE TABLE ${s}.plugins (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL,
        version text NOT NULL,
        files jsonb NOT NULL,
        created_at_ms double precision NOT NULL,
        updated_at_ms double precision NOT NULL
      )`,
      `CREATE TABLE ${s}.plugin_configs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        plugin_id bigint NOT NULL REFERENCES ${s}.plugins (id) ON DELETE CASCADE,
        team_id bigint NOT NULL,
        enabled boolean NOT NULL,
        position integer NOT NULL,
        config jsonb NOT NULL,
        error jsonb,
        revision integer NOT NULL DEFAULT 1,
        created_at_ms double precision NOT NULL,
        updated_at_ms double precision NOT NULL
      )`,
      `CREATE INDEX plugin_configs_by_team ON ${s}.plugin_configs (team_id, position, id)`,
      `CREATE INDEX plugin_configs_by_plugin ON ${s}.plugin_configs (plugin_id)`,
      `CREATE TABLE ${s}.plugin_attachments (
        config_id bigint NOT NULL REFERENCES ${s}.plugin_configs (id) ON DELETE CASCADE,
        key text NOT NULL,
        content_type text NOT NULL,
        file_name text NOT NULL,
        contents bytea NOT NULL,
        PRIMARY KEY (config_id, key)
      )`,
      `CREATE TABLE ${s}.storage (
        scope text NOT NULL,
        key text NOT NULL,
        value jsonb NOT NULL,
        PRIMARY KEY (scope, key)
      )`,
      `CREATE TABLE ${s}.jobs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL,
        config_id bigint,
        name text NOT NULL,
        payload text NOT NULL,
        run_at_ms double precision NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        owner text,
        lease_until_ms double precision
      )`,
      `CREATE INDEX jobs_by_due_time ON ${s}.jobs (run_at_ms, id)`,
      `CREATE TABLE ${s}.logs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        config_id bigint NOT NULL,
        team_id bigint NOT NULL,
        level text NOT NULL,
        source text NOT NULL,
        message text NOT NULL,
        logged_at_ms double precision NOT NULL,
        instance_id text NOT NULL
      )`,
      `CREATE INDEX logs_by_config_time ON ${s}.logs (config_id, logged_at_ms DESC, id DESC)`,
      `CREATE TABLE ${s}.metrics (
        config_id bigint NOT NULL,
        name text NOT NULL,
        operation text NOT NULL,
        value double precision NOT NULL,
        PRIMARY KEY (config_id, name)
      )`,
      `CREATE TABLE ${s}.dead_letters (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source text NOT NULL,
        reason text NOT NULL,
        payload bytea NOT NULL,
        team_id bigint,
        config_id bigint,
        created_at_ms double precision NOT NULL
      )`,
      `CREATE INDEX dead_letters_by_team ON ${s}.dead_letters (team_id, id)`,
      `CREATE INDEX dead_letters_by_config ON ${s}.dead_letters (config_id, id)`,
    ],
  },
]

/** The advisory lock key text that serialises migrations of one schema across processes. */
export function migrationLockKey(schema: string): string {
  return `sluice:migrations:${schema}`
}

/**
 * Brings `schema` up to date: inside one transaction holding a transaction-level advisory lock
 * keyed by the schema name, creates the schema and its `migrations` table if missing and applies
 * every migration not yet recorded there, in version order. Concurrent starts queue on the lock,
 * and the later ones find everything applied. Returns the versions this call applied.
 */
export async function migrate(
  driver: Driver,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const quoted = quoteIdentifier(schema)
  const table = qualifiedName(schema, 'migrations')
  return driver.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [migrationLockKey(schema)])
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`)
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    )
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${table}`)
    const applied = new Set(rows.map((row) => Number(row.version)))
    const known = new Set(migrations.map((migration) => migration.version))
    const unknown = [...applied].filter((version) => !known.has(version))
    if (unknown.length > 0) {
      throw new SluiceError(
        `schema ${schema} has migration ${Math.max(...unknown)}, which this version of ` +
          '@sluice/store-postgres does not know — it was migrated by a newer Sluice; upgrade this one',
        { retryable: false, code: 'postgres.schema_too_new', component: 'postgres' },
      )
    }
    const ran: number[] = []
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue
      for (const statement of migration.statements(quoted)) await tx.query(statement)
      await tx.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ])
      ran.push(migration.version)
    }
    return ran
  })
}
