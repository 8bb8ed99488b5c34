import { describeCacheConformance } from '@sluice/conformance'
import { CacheError } from '@sluice/core'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { rawClient, runPrefix, sweep, TEST_REDIS_URL } from '../test/redis.js'
import { cacheOver, createRedisCache, type RedisCache, redisCacheCapabilities } from './cache.js'
import { openConnection } from './connection.js'

const prefix = runPrefix('cache')
const raw = rawClient()
afterAll(async () => {
  await sweep(raw, prefix)
  raw.disconnect()
})

// Every instance gets its own connection, as separate server processes would.
describeCacheConformance(
  'redis',
  ({ namespace }) => createRedisCache({ url: TEST_REDIS_URL, keyPrefix: `${prefix}${namespace}` }),
  redisCacheCapabilities,
  { time: 'real', close: (cache) => cache.close() },
)

describe('createRedisCache on Redis', () => {
  let cache: RedisCache
  let namespace: string
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a rejection')
      },
      (error: unknown) => error,
    )

  beforeEach(() => {
    namespace = `${prefix}${Math.random().toString(36).slice(2, 8)}:`
    cache = createRedisCache({ url: TEST_REDIS_URL, keyPrefix: namespace })
  })
  afterEach(() => cache.close())

  it('list operations on a string key reject with a non-retryable cache.wrong_type', async () => {
    await cache.set('s', 'text')
    const calls = [
      cache.lpush('s', ['x']),
      cache.lpush('s', []),
      cache.lrange('s', 0, -1),
      cache.llen('s'),
      cache.lpop('s', 1),
      cache.lpop('s', 0),
      cache.lrem('s', 0, 'x'),
    ]
    for (const call of calls) {
      const error = await rejection(call)
      expect(error).toBeInstanceOf(CacheError)
      expect(error).toMatchObject({ code: 'cache.wrong_type', retryable: false })
    }
    expect(await cache.get('s')).toBe('text')
  })

  it('incr of a list is cache.wrong_type; of a non-integer string, cache.not_an_integer', async () => {
    await cache.lpush('l', ['x'])
    expect(await rejection(cache.incr('l', 1))).toMatchObject({ code: 'cache.wrong_type', retryable: false })
    for (const value of ['abc', '1.5', '']) {
      await cache.set('s', value)
      const error = await rejection(cache.incr('s', 1))
      expect(error).toMatchObject({ code: 'cache.not_an_integer', retryable: false })
      expect((error as Error).message).toContain(`incr s: the value is not an integer`)
      expect(await cache.get('s')).toBe(value)
    }
  })

  it('incr past the 64-bit range, or past what JavaScript counts exactly, is cache.overflow', async () => {
    await cache.set('big', '9223372036854775807')
    expect(await rejection(cache.incr('big', 1))).toMatchObject({ code: 'cache.overflow', retryable: false })
    await cache.set('safe', String(Number.MAX_SAFE_INTEGER))
    expect(await rejection(cache.incr('safe', 1))).toMatchObject({ code: 'cache.overflow' })
  })

  it('expire with 0 or a negative TTL deletes the key and answers whether it existed', async () => {
    await cache.set('a', '1')
    await cache.lpush('l', ['x'])
    expect(await cache.expire('a', 0)).toBe(true)
    expect(await cache.expire('l', -5)).toBe(true)
    expect(await cache.getMany(['a'])).toEqual([null])
    expect(await cache.llen('l')).toBe(0)
    expect(await cache.expire('a', -1)).toBe(false)
  })

  it('set with 0 or a negative TTL keeps the key without a TTL; fractional TTLs keep their milliseconds', async () => {
    await cache.set('zero', 'v', 0)
    await cache.set('negative', 'v', -3)
    await cache.set('fraction', 'v', 2.5)
    expect(await raw.pttl(`${namespace}zero`)).toBe(-1)
    expect(await raw.pttl(`${namespace}negative`)).toBe(-1)
    const pttl = await raw.pttl(`${namespace}fraction`)
    expect(pttl).toBeGreaterThan(2000)
    expect(pttl).toBeLessThanOrEqual(2500)
  })

  it('stores keys under keyPrefix and sees nothing outside it', async () => {
    await cache.set('k', 'mine')
    expect(await raw.get(`${namespace}k`)).toBe('mine')
    await raw.set(`${namespace}other`, 'set outside')
    expect(await cache.get('other')).toBe('set outside')
    const neighbour = createRedisCache({ url: TEST_REDIS_URL, keyPrefix: `${namespace}n:` })
    try {
      expect(await neighbour.get('k')).toBeNull()
      await neighbour.set('k', 'theirs')
      expect(await cache.get('k')).toBe('mine')
    } finally {
      await neighbour.close()
    }
  })

  it('lpop with a count larger than the list returns the whole list and removes the key', async () => {
    await cache.lpush('l', ['c', 'b', 'a'])
    expect(await cache.lpop('l', 1000)).toEqual(['a', 'b', 'c'])
    expect(await raw.exists(`${namespace}l`)).toBe(0)
  })

  it('sends calls made in the same tick as one pipeline', async () => {
    const connection = openConnection({ url: TEST_REDIS_URL, keyPrefix: namespace })
    const batched = cacheOver(connection)
    try {
      await batched.set('n', '0')
      const calls = Array.from({ length: 20 }, (_, i) => (i % 2 ? batched.incr('n', 1) : batched.get('n')))
      // Queued for one write instead of 20 round trips; the results still come back per call.
      expect(connection.client.autoPipelineQueueSize).toBe(20)
      await Promise.all(calls)
      expect(await batched.get('n')).toBe('10')
    } finally {
      await batched.close()
    }
  })
})
