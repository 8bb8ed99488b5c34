import type { PGlite } from '@electric-sql/pglite'
import {
  type Bus,
  type Clock,
  type DeadLetterStore,
  type JobQueue,
  type LogSink,
  type MetricsSink,
  type Registry,
  type Sink,
  SluiceError,
  type Storage,
} from '@sluice/core'
import { createPostgresBus } from './bus.js'
import type { StoreContext } from './context.js'
import { createPostgresDeadLetterStore } from './dead-letter.js'
import { createPgDriver, createPgliteDriver, type Driver } from './driver.js'
import { classifyPostgresError, createRedactor, redactUrl, urlSecrets } from './errors.js'
import { lockFolder } from './folder-lock.js'
import { validateIdentifier } from './identifiers.js'
import { createPostgresJobQueue } from './job-queue.js'
import { createPostgresLogSink, DEFAULT_LOG_RETENTION_MS } from './log-sink.js'
import { createPostgresMetricsSink } from './metrics-sink.js'
import { migrate } from './migrations.js'
import { createPostgresRegistry } from './registry.js'
import { createPostgresSink, type PostgresSinkOptions } from './sink.js'
import { createPostgresStorage } from './storage.js'

/** Options every store accepts, whatever it connects to. */
export interface PostgresStoreCommonOptions {
  /**
   * The schema holding Sluice's tables; created and migrated on start. Lowercase letters, digits
   * and `_`. Tests isolate themselves with a schema each.
   * @default 'sluice'
   */
  schema?: string
  /**
   * Stamps created/updated times of plugins, configs and dead letters.
   * @default the system clock
   */
  clock?: Pick<Clock, 'now'>
  /**
   * Called with errors that have no caller to reject: an idle pooled connection or the notification
   * connection dropped (both are replaced automatically). Messages carry no password.
   * @default ignore them
   */
  onError?: (error: SluiceError) => void
  /**
   * How long plugin log entries are kept, by their timestamp; `null` keeps them forever. Appends
   * delete older entries at most once a minute.
   * @default 604_800_000 (7 days)
   */
  logRetentionMs?: number | null
}

/** Connect to a PostgreSQL server with `pg`. */
export interface PostgresServerOptions extends PostgresStoreCommonOptions {
  /** `postgres://user:password@host:5432/database`; the password never appears in errors. */
  url: string
  /**
   * Connections in the pool (the notification connection comes on top).
   * @default 10
   */
  poolSize?: number
  /**
   * How long to wait for a new connection before the operation fails (retryably).
   * @default 10_000
   */
  connectTimeoutMs?: number
  /**
   * `statement_timeout` of every connection: a statement running longer fails (retryably).
   * @default the server's setting
   */
  statementTimeoutMs?: number
  /**
   * `application_name` of the connections (`<name>:bus` for the notification one), as shown in
   * `pg_stat_activity`.
   * @default 'sluice'
   */
  applicationName?: string
}

/** Open (or create) an embedded PGlite database in a folder; the store closes it. */
export interface PostgresDataDirOptions extends PostgresStoreCommonOptions {
  /** A folder for the database files, or `memory://` for a database that lives in memory only. */
  dataDir: string
}

/** Use a PGlite instance the caller opened (and closes). */
export interface PostgresPgliteOptions extends PostgresStoreCommonOptions {
  pglite: PGlite
}

/** Options of {@link createPostgresStore}: exactly one of `url`, `dataDir` or `pglite`. */
export type PostgresStoreOptions = PostgresServerOptions | PostgresDataDirOptions | PostgresPgliteOptions

/** Every port the store implements, over one connection pool (or one PGlite) and one schema. */
export interface PostgresStore {
  /** The schema the store uses. */
  readonly schema: string
  /** Which driver runs the SQL. */
  readonly driver: 'pg' | 'pglite'
  /** The migration versions this start applied; empty when the schema was already up to date. */
  readonly appliedMigrations: readonly number[]
  readonly registry: Registry
  /** `meta.storage` and `meta.utils.cursor`. */
  readonly storage: Storage
  readonly jobQueue: JobQueue
  readonly logSink: LogSink
  readonly metricsSink: MetricsSink
  readonly deadLetters: DeadLetterStore
  readonly bus: Bus
  /** A sink that appends processed events to a table (see {@link PostgresSinkOptions}). */
  createSink(options: PostgresSinkOptions): Sink
  /** Closes the pool and the notification connection, or the PGlite the store opened. Idempotent. */
  close(): Promise<void>
}

const systemClock: Pick<Clock, 'now'> = { now: () => Date.now() }

/**
 * Connects, migrates the schema (safe when several processes start at once) and returns every
 * port over it. With `url` it uses a `pg` pool and all ports are shared across processes; with
 * `dataDir` or `pglite` the same SQL runs on embedded PGlite in this process only.
 * @example
 * const store = await createPostgresStore({ url: process.env.DATABASE_URL })
 * const embedded = await createPostgresStore({ dataDir: './data/sluice' })
 * const events = store.createSink({ table: 'events' })
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = validateIdentifier('schema', options.schema ?? 'sluice')
  const secrets = 'url' in options && typeof options.url === 'string' ? urlSecrets(options.url) : []
  const redact = createRedactor(secrets)
  const wrap = (error: unknown, what: string) => {
    if (error instanceof SluiceError) return error
    const classified = classifyPostgresError(error)
    const native = (error as { message?: unknown })?.message
    return new SluiceError(
      redact(`${what}: ${typeof native === 'string' ? native : String(error)} — ${classified.hint}`),
      {
        retryable: classified.retryable,
        code: `postgres.${classified.kind}`,
        component: 'postgres',
        cause: error,
      },
    )
  }
  const onError = (error: unknown) => options.onError?.(wrap(error, 'background connection error'))
  const logRetentionMs =
    options.logRetentionMs === undefined ? DEFAULT_LOG_RETENTION_MS : options.logRetentionMs
  if (logRetentionMs !== null && !(typeof logRetentionMs === 'number' && logRetentionMs > 0)) {
    throw invalidOption(
      `logRetentionMs must be a positive number of milliseconds or null, got ${logRetentionMs}`,
    )
  }

  let driver: Driver
  let shared: boolean
  let durable: boolean
  /** Releases the embedded database's folder (see `lockFolder`); nothing to release otherwise. */
  let unlock = async () => {}
  if ('url' in options && options.url !== undefined) {
    if (typeof options.url !== 'string' || options.url.length === 0)
      throw invalidOption('url must be a non-empty string')
    driver = await createPgDriver({
      connectionString: options.url,
      applicationName: options.applicationName ?? 'sluice',
      poolSize: positiveInteger('poolSize', options.poolSize ?? 10),
      connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs ?? 10_000),
      ...(options.statementTimeoutMs === undefined
        ? {}
        : { statementTimeoutMs: positiveInteger('statementTimeoutMs', options.statementTimeoutMs) }),
      onError,
    })
    shared = true
    durable = true
  } else if ('dataDir' in options && options.dataDir !== undefined) {
    durable = !options.dataDir.startsWith('memory://')
    if (durable) unlock = await lockFolder(options.dataDir)
    const { PGlite } = await import('@electric-sql/pglite')
    let pglite: PGlite
    try {
      pglite = await PGlite.create(options.dataDir)
    } catch (error) {
      await unlock()
      throw wrap(error, `cannot open the embedded database in ${options.dataDir}`)
    }
    driver = createPgliteDriver(pglite, { owned: true })
    shared = false
  } else if ('pglite' in options && options.pglite) {
    driver = createPgliteDriver(options.pglite, { owned: false })
    shared = false
    durable = options.pglite.dataDir !== undefined && !options.pglite.dataDir.startsWith('memory://')
  } else {
    throw invalidOption('pass one of url (a PostgreSQL server), dataDir or pglite (embedded PGlite)')
  }

  let appliedMigrations: number[]
  try {
    appliedMigrations = await migrate(driver, schema)
  } catch (error) {
    await driver.close().catch(() => {})
    await unlock()
    const where = 'url' in options ? redactUrl(options.url) : 'the embedded database'
    throw wrap(error, `cannot migrate schema ${schema} on ${where}`)
  }

  let closed = false
  const context: StoreContext = {
    driver,
    schema,
    clock: options.clock ?? systemClock,
    redact,
    isClosed: () => closed,
    onError: (error) => options.onError?.(wrap(error, 'background work failed')),
  }

  return {
    schema,
    driver: driver.kind,
    appliedMigrations,
    registry: createPostgresRegistry(context),
    storage: createPostgresStorage(context, { durable, sharedAcrossInstances: shared }),
    jobQueue: createPostgresJobQueue(context, { durable, sharedAcrossInstances: shared }),
    logSink: createPostgresLogSink(context, { retentionMs: logRetentionMs }),
    metricsSink: createPostgresMetricsSink(context),
    deadLetters: createPostgresDeadLetterStore(context),
    bus: createPostgresBus(context, { sharedAcrossInstances: shared }),
    createSink: (sinkOptions) => createPostgresSink(context, sinkOptions),
    async close() {
      if (closed) return
      closed = true
      try {
        await driver.close()
      } finally {
        await unlock()
      }
    },
  }
}

function invalidOption(message: string): SluiceError {
  return new SluiceError(message, {
    retryable: false,
    code: 'postgres.invalid_option',
    component: 'postgres',
  })
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw invalidOption(`${name} must be a positive integer, got ${value}`)
  return value
}
