import type { PGlite } from '@electric-sql/pglite'
import type pg from 'pg'
import { quoteIdentifier } from './identifiers.js'

/** A result row as the drivers return it (int8 may be a string or bigint; normalise with `Number`). */
export type Row = Record<string, unknown>

/** The rows of one statement. */
export interface QueryResult<R = Row> {
  rows: R[]
  /** Rows inserted, updated or deleted (or returned, for a SELECT). */
  rowCount: number
}

/** Something that runs one SQL statement with `$n` parameters. */
export interface Queryable {
  query<R = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>
}

/**
 * The one seam between the store and a Postgres driver. Both implementations run the same SQL;
 * everything driver-specific (pooling, the notification connection) stays behind it.
 */
export interface Driver extends Queryable {
  readonly kind: 'pg' | 'pglite'
  /** Runs `fn` inside BEGIN … COMMIT on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /**
   * LISTENs on `channel` (a raw name, quoted by the driver) and calls `onMessage` with each
   * payload. Resolves once the LISTEN is active; the returned function UNLISTENs.
   */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>
  /** Releases connections (and the PGlite instance when the driver opened it). */
  close(): Promise<void>
}

/** Options of {@link createPgDriver}. */
export interface PgDriverOptions {
  connectionString: string
  applicationName: string
  poolSize: number
  connectTimeoutMs: number
  /** `statement_timeout` of every connection; the server's setting when absent. */
  statementTimeoutMs?: number
  /** Errors of idle or notification connections, which have no caller to reject. */
  onError: (error: unknown) => void
}

/** Delay before the n-th reconnect of the notification connection (1-based), in ms. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** Math.max(0, attempt - 1))
}

/**
 * A driver over a `pg` Pool. Notifications use one dedicated client (LISTEN needs a session that a
 * pool would hand to someone else); when it drops, it reconnects with backoff and LISTENs again to
 * every channel. Notices sent while it was down are lost, as the Bus port allows.
 */
export async function createPgDriver(options: PgDriverOptions): Promise<Driver> {
  const { default: pgModule } = await import('pg')
  const clientConfig = {
    connectionString: options.connectionString,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs,
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
  }
  const pool = new pgModule.Pool({ ...clientConfig, max: options.poolSize })
  // An idle client whose backend died emits here; the pool drops it and connects a new one later.
  pool.on('error', options.onError)

  const handlers = new Map<string, Set<(payload: string) => void>>()
  let listener: pg.Client | undefined
  let connecting: Promise<pg.Client> | undefined
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let reconnectAttempt = 0
  let closed = false

  const dispatch = (message: pg.Notification) => {
    for (const handler of handlers.get(message.channel) ?? []) handler(message.payload ?? '')
  }

  const scheduleReconnect = () => {
    if (closed || reconnectTimer !== undefined || handlers.size === 0) return
    reconnectAttempt += 1
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined
      if (closed || handlers.size === 0) return
      connectListener().catch((error: unknown) => {
        options.onError(error)
        scheduleReconnect()
      })
    }, reconnectDelayMs(reconnectAttempt))
    reconnectTimer.unref?.()
  }

  const connectListener = (): Promise<pg.Client> => {
    if (listener) return Promise.resolve(listener)
    if (connecting) return connecting
    connecting = (async () => {
      const client = new pgModule.Client({
        ...clientConfig,
        application_name: `${options.applicationName}:bus`,
      })
      const lost = (error?: unknown) => {
        if (error !== undefined) options.onError(error)
        if (listener === client) listener = undefined
        client.removeAllListeners('notification')
        client.end().catch(() => {})
        scheduleReconnect()
      }
      client.on('error', lost)
      client.on('end', () => lost())
      client.on('notification', dispatch)
      try {
        await client.connect()
        for (const channel of handlers.keys()) await client.query(`LISTEN ${quoteIdentifier(channel)}`)
      } catch (error) {
        client.removeAllListeners()
        client.on('error', () => {})
        await client.end().catch(() => {})
        throw error
      }
      if (closed) {
        await client.end().catch(() => {})
        throw new Error('Cannot use a pool after calling end on the pool')
      }
      listener = client
      reconnectAttempt = 0
      return client
    })().finally(() => {
      connecting = undefined
    })
    return connecting
  }

  const query = async <R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> => {
    const result = await pool.query(sql, params as unknown[])
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 }
  }

  return {
    kind: 'pg',
    query,

    async transaction(fn) {
      const client = await pool.connect()
      let broken: unknown
      try {
        await client.query('BEGIN')
        const tx: Queryable = {
          async query<R>(sql: string, params: readonly unknown[] = []) {
            const result = await client.query(sql, params as unknown[])
            return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 }
          },
        }
        const value = await fn(tx)
        await client.query('COMMIT')
        return value
      } catch (error) {
        try {
          await client.query('ROLLBACK')
        } catch (rollbackError) {
          // The connection is unusable (e.g. its backend was terminated): don't return it to the pool.
          broken = rollbackError
        }
        throw error
      } finally {
        client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true)
      }
    },

    async listen(channel, onMessage) {
      let set = handlers.get(channel)
      const first = set === undefined
      if (!set) {
        set = new Set()
        handlers.set(channel, set)
      }
      set.add(onMessage)
      if (first) {
        try {
          // Harmless when a connection made just now already LISTENed to every channel in `handlers`.
          const client = await connectListener()
          await client.query(`LISTEN ${quoteIdentifier(channel)}`)
        } catch (error) {
          set.delete(onMessage)
          if (set.size === 0) handlers.delete(channel)
          throw error
        }
      } else {
        await connectListener()
      }
      return async () => {
        const current = handlers.get(channel)
        if (!current?.delete(onMessage) || current.size > 0) return
        handlers.delete(channel)
        if (listener) await listener.query(`UNLISTEN ${quoteIdentifier(channel)}`).catch(options.onError)
      }
    },

    async close() {
      if (closed) return
      closed = true
      if (reconnectTimer !== undefined) clearTimeout(reconnectTimer)
      handlers.clear()
      const client = listener ?? (await connecting?.catch(() => undefined))
      listener = undefined
      if (client) {
        client.removeAllListeners()
        client.on('error', () => {})
        await client.end().catch(() => {})
      }
      await pool.end()
    },
  }
}

/** Options of {@link createPgliteDriver}. */
export interface PgliteDriverOptions {
  /** Closes the instance with the driver: true when the store opened it. */
  owned: boolean
}

/**
 * A driver over one PGlite instance: a single Postgres session in this process, so statements run
 * one at a time and LISTEN/NOTIFY reach only subscribers of this instance.
 */
export function createPgliteDriver(pglite: PGlite, options: PgliteDriverOptions): Driver {
  const toResult = <R>(result: { rows: R[]; affectedRows?: number }): QueryResult<R> => ({
    rows: result.rows,
    rowCount: result.affectedRows || result.rows.length,
  })
  let closed = false
  // Subscriptions end with the driver even when the instance outlives it.
  const active = new Set<() => Promise<void>>()
  return {
    kind: 'pglite',
    async query<R>(sql: string, params: readonly unknown[] = []) {
      return toResult(await pglite.query<R>(sql, params as unknown[]))
    },
    transaction(fn) {
      return pglite.transaction((tx) =>
        fn({
          async query<R>(sql: string, params: readonly unknown[] = []) {
            return toResult(await tx.query<R>(sql, params as unknown[]))
          },
        }),
      )
    },
    async listen(channel, onMessage) {
      // PGlite sends `LISTEN <channel>` as given and matches notifications by the unquoted name. Its
      // returned unlisten function sends the unquoted name, so unlisten through the quoted one instead.
      const quoted = quoteIdentifier(channel)
      await pglite.listen(quoted, onMessage)
      const unlisten = async () => {
        if (!active.delete(unlisten)) return
        await pglite.unlisten(quoted, onMessage)
      }
      active.add(unlisten)
      return unlisten
    },
    async close() {
      if (closed) return
      closed = true
      for (const unlisten of [...active]) await unlisten().catch(() => {})
      if (options.owned) await pglite.close()
    },
  }
}
