import { describeBusConformance } from '@sluice/conformance'
import { afterAll, describe, expect, it } from 'vitest'
import { eventually, rawClient, runPrefix, sweep, TEST_REDIS_URL, waitForUptime } from '../test/redis.js'
import { createRedisBus, redisBusCapabilities } from './bus.js'
import { createRedisStores } from './stores.js'

const prefix = runPrefix('bus')

describeBusConformance(
  'redis',
  ({ namespace }) => createRedisBus({ url: TEST_REDIS_URL, keyPrefix: `${prefix}${namespace}` }),
  redisBusCapabilities,
  { time: 'real', close: (bus) => bus.close() },
)

describe('createRedisBus on Redis', () => {
  const channel = () => `c${Math.random().toString(36).slice(2, 8)}`

  it('a throwing handler is reported and does not keep the message from other subscribers', async () => {
    const reported: [unknown, string][] = []
    const bus = createRedisBus({
      url: TEST_REDIS_URL,
      keyPrefix: prefix,
      onHandlerError: (error, name) => void reported.push([error, name]),
    })
    try {
      const name = channel()
      const received: string[] = []
      await bus.subscribe(name, () => {
        throw new Error('handler failed')
      })
      await bus.subscribe(name, (message) => void received.push(message))
      await bus.publish(name, 'm')
      await eventually('delivery', () => received.length === 1)
      expect(reported).toHaveLength(1)
      expect(reported[0]?.[1]).toBe(name)
    } finally {
      await bus.close()
    }
  })

  it('keyPrefix separates channels of the same name', async () => {
    const here = createRedisBus({ url: TEST_REDIS_URL, keyPrefix: `${prefix}here:` })
    const there = createRedisBus({ url: TEST_REDIS_URL, keyPrefix: `${prefix}there:` })
    try {
      const name = channel()
      const onHere: string[] = []
      const onThere: string[] = []
      await here.subscribe(name, (message) => void onHere.push(message))
      await there.subscribe(name, (message) => void onThere.push(message))
      await here.publish(name, 'for here')
      await there.publish(name, 'for there')
      await eventually('both deliveries', () => onHere.length === 1 && onThere.length === 1)
      await here.publish(name, 'sentinel')
      await eventually('the sentinel', () => onHere.length === 2)
      expect(onHere).toEqual(['for here', 'sentinel'])
      expect(onThere).toEqual(['for there'])
    } finally {
      await here.close()
      await there.close()
    }
  })

  it('a channel whose last subscriber left can be subscribed again; a second unsubscribe is harmless', async () => {
    const bus = createRedisBus({ url: TEST_REDIS_URL, keyPrefix: prefix })
    try {
      const name = channel()
      const first: string[] = []
      const stop = await bus.subscribe(name, (message) => void first.push(message))
      await stop()
      await stop()
      const second: string[] = []
      await bus.subscribe(name, (message) => void second.push(message))
      await bus.publish(name, 'again')
      await eventually('delivery to the new subscriber', () => second.length === 1)
      expect(first).toEqual([])
    } finally {
      await bus.close()
    }
  })
})

describe('createRedisStores', () => {
  const raw = rawClient()
  afterAll(async () => {
    await sweep(raw, prefix)
    raw.disconnect()
  })

  it('gives a cache, lock and bus over shared connections, all closed by close()', async () => {
    await waitForUptime(raw, 2)
    const stores = createRedisStores({ url: TEST_REDIS_URL, keyPrefix: `${prefix}stores:` })
    await stores.cache.set('k', 'v')
    expect(await raw.get(`${prefix}stores:k`)).toBe('v')
    expect(await stores.lock.acquire('leader', 'a', 1000)).toBe(true)
    expect(await stores.lock.holder('leader')).toBe('a')
    const received: string[] = []
    await stores.bus.subscribe('changes', (message) => void received.push(message))
    await stores.bus.publish('changes', 'hello')
    await eventually('delivery', () => received.length === 1)

    // The parts' own close() leaves the shared connection to createRedisStores' close().
    await stores.cache.close()
    expect(await stores.lock.holder('leader')).toBe('a')

    await stores.close()
    await expect(stores.cache.get('k')).rejects.toMatchObject({ code: 'cache.unavailable' })
  })
})
