import { describeCacheConformance } from '@sluice/conformance'
import { CacheError, createManualClock } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryCache, createMemoryCacheStore, memoryCacheCapabilities } from './cache.js'

describeCacheConformance(
  'memory',
  ({ time }) => createMemoryCache({ clock: time.clock }),
  memoryCacheCapabilities,
)

// Caches over one store behave like processes sharing one Redis, so the shared-instance cases
// run here too. One store serves every test: the suite namespaces its keys.
const sharedStore = createMemoryCacheStore()
describeCacheConformance(
  'memory over a shared store',
  ({ time }) => createMemoryCache({ clock: time.clock, store: sharedStore }),
  { ...memoryCacheCapabilities, sharedAcrossInstances: true },
)

describe('createMemoryCache', () => {
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    )

  it('declares that it is not shared across processes', () => {
    expect(createMemoryCache().capabilities).toEqual({ sharedAcrossInstances: false })
  })

  it('caches without a shared store do not see each other', async () => {
    const a = createMemoryCache()
    const b = createMemoryCache()
    await a.set('k', 'v')
    expect(await b.get('k')).toBeNull()
  })

  it('list operations on a string key reject with a non-retryable cache.wrong_type error', async () => {
    const cache = createMemoryCache()
    await cache.set('s', 'text')
    for (const operation of [
      cache.lpush('s', ['x']),
      cache.lrange('s', 0, -1),
      cache.llen('s'),
      cache.lpop('s', 1),
      cache.lrem('s', 0, 'x'),
    ]) {
      const error = await rejection(operation)
      expect(error).toBeInstanceOf(CacheError)
      expect(error).toMatchObject({ retryable: false, code: 'cache.wrong_type' })
    }
    expect(await cache.get('s')).toBe('text')
  })

  it('incr of a list or a non-integer string rejects with a non-retryable error', async () => {
    const cache = createMemoryCache()
    await cache.lpush('list', ['x'])
    await cache.set('float', '1.5')
    await cache.set('word', 'ten')
    expect(await rejection(cache.incr('list', 1))).toMatchObject({
      code: 'cache.wrong_type',
      retryable: false,
    })
    expect(await rejection(cache.incr('float', 1))).toMatchObject({ code: 'cache.not_an_integer' })
    expect(await rejection(cache.incr('word', 1))).toMatchObject({ code: 'cache.not_an_integer' })
    expect(await rejection(cache.incr('missing', 0.5))).toMatchObject({ code: 'cache.not_an_integer' })
    expect(await cache.get('word')).toBe('ten')
  })

  it('expire with a TTL of zero or less deletes the key, as Redis does', async () => {
    const cache = createMemoryCache()
    await cache.set('k', 'v')
    expect(await cache.expire('k', 0)).toBe(true)
    expect(await cache.get('k')).toBeNull()
  })

  it('set with a non-positive TTL keeps the key without expiry', async () => {
    const clock = createManualClock()
    const cache = createMemoryCache({ clock })
    await cache.set('k', 'v', 0)
    clock.advance(10 ** 9)
    expect(await cache.get('k')).toBe('v')
  })

  it('a TTL ends exactly at ttlSeconds * 1000 ms', async () => {
    const clock = createManualClock()
    const cache = createMemoryCache({ clock })
    await cache.set('k', 'v', 2)
    clock.advance(1999)
    expect(await cache.get('k')).toBe('v')
    clock.advance(1)
    expect(await cache.get('k')).toBeNull()
  })

  it('lists stay correct through mixed pushes, pops and removals', async () => {
    const cache = createMemoryCache()
    await cache.lpush('l', ['c', 'b', 'a'])
    await cache.lpush('l', ['z'])
    expect(await cache.lpop('l', 1)).toEqual(['z'])
    await cache.lpush('l', ['b'])
    expect(await cache.lrange('l', 0, -1)).toEqual(['b', 'a', 'b', 'c'])
    expect(await cache.lrem('l', -1, 'b')).toBe(1)
    expect(await cache.lrange('l', 0, -1)).toEqual(['b', 'a', 'c'])
    expect(await cache.lpop('l', 0)).toEqual([])
  })

  it('rejects a store option that was not made by createMemoryCacheStore', () => {
    expect(() => createMemoryCache({ store: { kind: 'memory-cache-store' } })).toThrow(CacheError)
  })
})
