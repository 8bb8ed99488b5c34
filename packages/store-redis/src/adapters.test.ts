import { createServer, type Server, type Socket } from 'node:net'
import { CacheError, LockError } from '@sluice/core'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisCache } from './cache.js'
import { createRedisLock } from './lock.js'

// No Redis here: argument checks fail before any command, and the network cases talk to a port
// nothing listens on, or to a server that accepts connections and never answers.

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )

const clients: Redis[] = []
/** A client that fails fast: one reconnect attempt per command, 20 ms apart. */
function client(port: number, url = `redis://127.0.0.1:${port}`): Redis {
  const created = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 20 })
  created.on('error', () => {})
  clients.push(created)
  return created
}
afterEach(() => {
  for (const created of clients.splice(0)) created.disconnect()
})

let closedPort: number
let silent: Server
let silentPort: number
const sockets = new Set<Socket>()
beforeAll(async () => {
  const listen = (server: Server) =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    )
  const probe = createServer()
  closedPort = await listen(probe)
  await new Promise((resolve) => probe.close(resolve))
  silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  silentPort = await listen(silent)
})
afterAll(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise((resolve) => silent.close(resolve))
})

describe('argument checks (no command is sent)', () => {
  it('incr by a non-integer is a non-retryable cache.not_an_integer', async () => {
    const cache = createRedisCache({ client: client(closedPort) })
    for (const by of [1.5, Number.NaN, 2 ** 60]) {
      expect(await rejection(cache.incr('n', by))).toMatchObject({
        code: 'cache.not_an_integer',
        retryable: false,
      })
    }
  })

  it('a TTL that is not finite is a non-retryable cache.invalid_ttl', async () => {
    const cache = createRedisCache({ client: client(closedPort) })
    const error = await rejection(cache.set('k', 'v', Number.POSITIVE_INFINITY))
    expect(error).toBeInstanceOf(CacheError)
    expect(error).toMatchObject({ code: 'cache.invalid_ttl', retryable: false })
    expect(await rejection(cache.expire('k', Number.NaN))).toMatchObject({ code: 'cache.invalid_ttl' })
  })

  it('acquire with a TTL of 0 or less, or not a number, is a non-retryable lock.invalid_ttl', async () => {
    const lock = createRedisLock({ client: client(closedPort) })
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = await rejection(lock.acquire('leader', 'a', ttl))
      expect(error).toBeInstanceOf(LockError)
      expect(error).toMatchObject({ code: 'lock.invalid_ttl', retryable: false })
    }
  })

  it('getMany and del of no keys answer without a command', async () => {
    const cache = createRedisCache({ client: client(closedPort) })
    expect(await cache.getMany([])).toEqual([])
    expect(await cache.del([])).toBe(0)
  })
})

describe('an unreachable Redis', () => {
  it('fails cache calls with a retryable cache.unavailable naming the address', async () => {
    const cache = createRedisCache({ client: client(closedPort) })
    const error = await rejection(cache.get('k'))
    expect(error).toBeInstanceOf(CacheError)
    expect(error).toMatchObject({ code: 'cache.unavailable', retryable: true })
    expect((error as Error).message).toContain(`is Redis running at 127.0.0.1:${closedPort}? (REDIS_URL)`)
  })

  it('never puts the password of the URL into the message', async () => {
    const cache = createRedisCache({
      client: client(closedPort, `redis://app:hunter2@127.0.0.1:${closedPort}`),
    })
    const error = (await rejection(cache.lpush('k', ['v']))) as Error
    expect(error.message).toContain(`127.0.0.1:${closedPort}`)
    expect(error.message).not.toContain('hunter2')
  })

  it('fails an acquire that gets no answer within a third of the TTL with a retryable lock.timeout', async () => {
    const lock = createRedisLock({ client: client(silentPort) })
    const error = await rejection(lock.acquire('leader', 'a', 300))
    expect(error).toBeInstanceOf(LockError)
    expect(error).toMatchObject({ code: 'lock.timeout', retryable: true })
    expect((error as Error).message).toContain('within 100 ms')
  })
})
