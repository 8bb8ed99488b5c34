import { Redis } from 'ioredis'
import { describeEndpoint } from './errors.js'

/** Where the Redis adapters connect; every factory takes these. */
export interface RedisConnectionOptions {
  /**
   * The server, as `redis://[user:password@]host:port[/db]` (`rediss://` for TLS). Ignored when
   * `client` is given.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string
  /**
   * An ioredis client to use instead of opening one from `url`. The adapter never closes it, and
   * its settings (auto-pipelining, retries, offline queue) are the caller's.
   */
  client?: Redis
  /**
   * Prepended to every key, lock name and channel, so several deployments can share one Redis.
   * @default ''
   */
  keyPrefix?: string
}

/** The default server, as in Redis' own tools. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'

/** A client an adapter works through, and whether the adapter owns (and so closes) it. */
export interface Connection {
  readonly client: Redis
  readonly endpoint: string
  readonly prefix: string
  /** Closes the client if the adapter opened it; a no-op for a client passed in. */
  close(): Promise<void>
}

/**
 * Opens the command connection of an adapter. Commands issued in the same tick go out as one
 * pipeline (`enableAutoPipelining`), so per-event calls batch without the caller's help.
 */
export function openConnection(options: RedisConnectionOptions): Connection {
  if (options.client) return wrap(options.client, false, options.keyPrefix)
  return wrap(
    new Redis(options.url ?? DEFAULT_REDIS_URL, { enableAutoPipelining: true }),
    true,
    options.keyPrefix,
  )
}

/** A second connection to the same server, for SUBSCRIBE (a subscribed connection runs nothing else). */
export function openSubscriber(connection: Connection): Connection {
  return wrap(connection.client.duplicate({ enableAutoPipelining: false }), true, connection.prefix)
}

function wrap(client: Redis, owned: boolean, prefix = ''): Connection {
  // Connection failures reach callers as mapped errors on their calls; without a listener ioredis
  // would also print every failed reconnect attempt.
  if (owned) client.on('error', () => {})
  let closed = false
  return {
    client,
    endpoint: describeEndpoint(client.options),
    prefix,
    async close() {
      if (!owned || closed) return
      closed = true
      // QUIT waits in the offline queue while disconnected, so only a ready client gets a polite close.
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect())
      else client.disconnect()
    },
  }
}
