import { busOver, type RedisBus, type RedisBusOptions } from './bus.js'
import { cacheOver, type RedisCache } from './cache.js'
import { openConnection, type RedisConnectionOptions } from './connection.js'
import { lockOver, type RedisLock } from './lock.js'

/** Options of {@link createRedisStores}. */
export interface RedisStoresOptions extends RedisConnectionOptions, Pick<RedisBusOptions, 'onHandlerError'> {}

/** The Redis-backed ports of one server process, over shared connections. */
export interface RedisStores {
  cache: RedisCache
  lock: RedisLock
  bus: RedisBus
  /** Stops the bus' subscriptions and closes both connections. */
  close(): Promise<void>
}

/**
 * Creates the cache, lock and bus over two connections: one for commands (shared by all three,
 * auto-pipelined) and one for the bus' subscriptions. Their own `close()` leave the shared
 * connection open; close everything with the returned `close()`.
 * @example
 * const redis = createRedisStores({ url: process.env.REDIS_URL })
 * // … hand redis.cache, redis.lock and redis.bus to the runtime …
 * await redis.close()
 */
export function createRedisStores(options: RedisStoresOptions = {}): RedisStores {
  const connection = openConnection(options)
  const shared = { ...connection, close: async () => {} }
  const bus = busOver(shared, options)
  return {
    cache: cacheOver(shared),
    lock: lockOver(shared),
    bus,
    async close() {
      await bus.close()
      await connection.close()
    },
  }
}
