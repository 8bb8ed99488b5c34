import { type Cache, type CacheCapabilities, CacheError } from '@sluice/core'
import { type Connection, openConnection, type RedisConnectionOptions } from './connection.js'
import { toPortError } from './errors.js'

/** What the Redis cache guarantees: every process on the same Redis sees the same data. */
export const redisCacheCapabilities: CacheCapabilities = Object.freeze({ sharedAcrossInstances: true })

/** Options of {@link createRedisCache}. */
export interface RedisCacheOptions extends RedisConnectionOptions {}

/** A {@link Cache} over Redis, with a way to let go of its connection. */
export interface RedisCache extends Cache {
  /** Closes the connection the cache opened (a client passed in stays open). */
  close(): Promise<void>
}

/**
 * Creates a {@link Cache} over Redis: each port call is one Redis command (`MGET` for `getMany`,
 * `LPOP key count`, …), so TTLs, list semantics and atomicity are Redis' own. Calls made in the
 * same tick share one round trip (auto-pipelining).
 * @example
 * const cache = createRedisCache({ url: process.env.REDIS_URL, keyPrefix: 'sluice:' })
 * await cache.set('greeting', 'hi', 60)
 */
export function createRedisCache(options: RedisCacheOptions = {}): RedisCache {
  return cacheOver(openConnection(options))
}

/** The cache over a connection someone else may share (see `createRedisStores`). */
export function cacheOver(connection: Connection): RedisCache {
  const { client, prefix, endpoint } = connection
  const k = (key: string) => prefix + key

  const run = async <T>(operation: string, key: string, command: () => Promise<T>): Promise<T> => {
    try {
      return await command()
    } catch (error) {
      throw toPortError(error, 'cache', { operation: `${operation} ${key}`, endpoint })
    }
  }

  const milliseconds = (ttlSeconds: number, operation: string) => {
    if (!Number.isFinite(ttlSeconds)) {
      throw new CacheError(`${operation}: TTL must be a finite number of seconds, got ${ttlSeconds}`, {
        retryable: false,
        code: 'cache.invalid_ttl',
      })
    }
    // PX keeps fractional seconds; a positive TTL never rounds down to "no TTL".
    return Math.max(1, Math.round(ttlSeconds * 1000))
  }

  return {
    capabilities: redisCacheCapabilities,

    async get(key) {
      // MGET, unlike GET, answers null for a list instead of failing with WRONGTYPE.
      const [value] = await run('get', key, () => client.mget(k(key)))
      return value ?? null
    },

    async getMany(keys) {
      if (keys.length === 0) return []
      return run('getMany', `(${keys.length} keys)`, () => client.mget(keys.map(k)))
    },

    async set(key, value, ttlSeconds) {
      if (ttlSeconds !== undefined && ttlSeconds > 0) {
        const px = milliseconds(ttlSeconds, `set ${key}`)
        await run('set', key, () => client.set(k(key), value, 'PX', px))
      } else {
        await run('set', key, () => client.set(k(key), value))
      }
    },

    async incr(key, by) {
      if (!Number.isSafeInteger(by)) {
        throw new CacheError(`incr ${key}: the increment must be an integer, got ${by}`, {
          retryable: false,
          code: 'cache.not_an_integer',
        })
      }
      const result = await run('incr', key, () => client.incrby(k(key), by))
      if (!Number.isSafeInteger(result)) {
        throw new CacheError(`incr ${key}: the result is outside the safe integer range of JavaScript`, {
          retryable: false,
          code: 'cache.overflow',
        })
      }
      return result
    },

    async expire(key, ttlSeconds) {
      // As in Redis, a TTL of zero or less deletes the key at once (PEXPIRE 0 does).
      const px = ttlSeconds <= 0 ? 0 : milliseconds(ttlSeconds, `expire ${key}`)
      return (await run('expire', key, () => client.pexpire(k(key), px))) === 1
    },

    async del(keys) {
      if (keys.length === 0) return 0
      return run('del', `(${keys.length} keys)`, () => client.del(...new Set(keys.map(k))))
    },

    async lpush(key, values) {
      // LPUSH needs at least one value; LLEN still fails on a string key, as the push would.
      if (values.length === 0) return run('lpush', key, () => client.llen(k(key)))
      return run('lpush', key, () => client.lpush(k(key), ...values))
    },

    async lrange(key, start, stop) {
      return run('lrange', key, () => client.lrange(k(key), start, stop))
    },

    async llen(key) {
      return run('llen', key, () => client.llen(k(key)))
    },

    async lpop(key, count) {
      if (count <= 0) {
        await run('lpop', key, () => client.llen(k(key)))
        return []
      }
      return (await run('lpop', key, () => client.lpop(k(key), count))) ?? []
    },

    async lrem(key, count, value) {
      return run('lrem', key, () => client.lrem(k(key), count, value))
    },

    close: () => connection.close(),
  }
}
