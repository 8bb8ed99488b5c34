import { describeLockConformance } from '@sluice/conformance'
import { LockError } from '@sluice/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { rawClient, runPrefix, sweep, TEST_REDIS_URL, uptimeSeconds, waitForUptime } from '../test/redis.js'
import { createRedisLock, type RedisLock, redisLockCapabilities } from './lock.js'

const prefix = runPrefix('lock')
const raw = rawClient()
// The suite's 1 s TTLs are granted once Redis has been up for 2 s (the restart guard).
beforeAll(() => waitForUptime(raw, 2))
afterAll(async () => {
  await sweep(raw, prefix)
  raw.disconnect()
})

describeLockConformance(
  'redis',
  ({ namespace }) => createRedisLock({ url: TEST_REDIS_URL, keyPrefix: `${prefix}${namespace}` }),
  redisLockCapabilities,
  { time: 'real', close: (lock) => lock.close() },
)

describe('createRedisLock on Redis', () => {
  let lock: RedisLock
  let namespace: string

  beforeEach(() => {
    namespace = `${prefix}${Math.random().toString(36).slice(2, 8)}:`
    lock = createRedisLock({ url: TEST_REDIS_URL, keyPrefix: namespace })
  })
  afterEach(() => lock.close())

  it('keeps the lock as a string key under keyPrefix holding the owner, with the TTL in ms', async () => {
    expect(await lock.acquire('leader', 'instance-a', 5000)).toBe(true)
    expect(await raw.get(`${namespace}leader`)).toBe('instance-a')
    const pttl = await raw.pttl(`${namespace}leader`)
    expect(pttl).toBeGreaterThan(4000)
    expect(pttl).toBeLessThanOrEqual(5000)
  })

  it('restart guard: a free lock is not granted for a TTL longer than Redis has been up', async () => {
    const longerThanUptime = ((await uptimeSeconds(raw)) + 3600) * 1000
    expect(await lock.acquire('young', 'a', longerThanUptime)).toBe(false)
    expect(await lock.holder('young')).toBeNull()
  })

  it('restart guard: the holder still renews, even with a TTL longer than Redis has been up', async () => {
    expect(await lock.acquire('held', 'a', 1000)).toBe(true)
    const longerThanUptime = ((await uptimeSeconds(raw)) + 3600) * 1000
    expect(await lock.acquire('held', 'a', longerThanUptime)).toBe(true)
    expect(await raw.pttl(`${namespace}held`)).toBeGreaterThan(3_600_000)
    expect(await lock.acquire('held', 'b', 1000)).toBe(false)
  })

  it('a lock name holding another type is a non-retryable lock.wrong_type', async () => {
    await raw.lpush(`${namespace}list`, 'x')
    await expect(lock.acquire('list', 'a', 1000)).rejects.toSatisfy(
      (error) => error instanceof LockError && error.code === 'lock.wrong_type' && !error.retryable,
    )
  })

  it('works again after the script cache is flushed (EVALSHA falls back to EVAL)', async () => {
    expect(await lock.acquire('flushed', 'a', 5000)).toBe(true)
    await raw.script('FLUSH')
    expect(await lock.acquire('flushed', 'a', 5000)).toBe(true)
    await lock.release('flushed', 'a')
    expect(await lock.holder('flushed')).toBeNull()
  })
})
