import { createHash } from 'node:crypto'
import { type Lock, type LockCapabilities, LockError } from '@sluice/core'
import type { Redis } from 'ioredis'
import { type Connection, openConnection, type RedisConnectionOptions } from './connection.js'
import { toPortError } from './errors.js'

/** What the Redis lock guarantees: it excludes holders in every process on the same Redis. */
export const redisLockCapabilities: LockCapabilities = Object.freeze({ sharedAcrossInstances: true })

/** Options of {@link createRedisLock}. */
export interface RedisLockOptions extends RedisConnectionOptions {}

/** A {@link Lock} over Redis, with a way to let go of its connection. */
export interface RedisLock extends Lock {
  /** Closes the connection the lock opened (a client passed in stays open). */
  close(): Promise<void>
}

/**
 * Take or renew: the owner's own lease is extended; a free lock is taken unless the server started
 * less than one TTL ago. A restarted Redis has forgotten every lease, and a holder elsewhere may
 * still act on one until its renewal fails; waiting one TTL after the restart (the Redlock
 * "delayed restart") lets that lease run out before anyone else is granted the lock.
 * `uptime_in_seconds` is whole seconds, so one more second is waited to be sure.
 */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
if not holder then
  local uptime = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)') or '')
  if uptime and (uptime - 1) * 1000 < tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

/**
 * Creates a {@link Lock} over Redis: a lock is a string key holding its owner with a PX TTL;
 * acquire (take or renew) and release run as Lua scripts, so only the owner extends or deletes it.
 *
 * Two rules keep "one leader at a time" when Redis itself fails:
 * - an `acquire` that gets no answer within a third of its TTL rejects with a retryable
 *   `LockError` (`lock.timeout`), so a holder cut off from Redis stops acting as leader well
 *   before its lease could pass to someone else;
 * - a Redis that (re)started less than one TTL ago grants no lock that is free (an owner's own
 *   lease is still renewed), because it may have forgotten a lease still in use; `acquire` just
 *   returns false until then.
 * @example
 * const lock = createRedisLock({ url: process.env.REDIS_URL })
 * if (await lock.acquire('sluice:scheduler', instanceId, 30_000)) runSchedules()
 */
export function createRedisLock(options: RedisLockOptions = {}): RedisLock {
  return lockOver(openConnection(options))
}

/** The lock over a connection someone else may share (see `createRedisStores`). */
export function lockOver(connection: Connection): RedisLock {
  const { client, prefix, endpoint } = connection
  const fail = (operation: string) => (error: unknown) => {
    throw toPortError(error, 'lock', { operation, endpoint })
  }

  return {
    capabilities: redisLockCapabilities,

    async acquire(name, owner, ttlMs) {
      if (!(Number.isFinite(ttlMs) && ttlMs > 0)) {
        throw new LockError(`acquire ${name}: the TTL must be a positive number of ms, got ${ttlMs}`, {
          retryable: false,
          code: 'lock.invalid_ttl',
        })
      }
      const bound = Math.max(1, Math.floor(ttlMs / 3))
      const taken = runScript(client, ACQUIRE, prefix + name, [owner, String(Math.ceil(ttlMs))])
      const answer = await within(taken, bound, () => {
        return new LockError(
          `acquire ${name}: Redis at ${endpoint} did not answer within ${bound} ms (a third of the TTL) — ` +
            'treat the lock as lost; is Redis running and reachable? (REDIS_URL)',
          { retryable: true, code: 'lock.timeout' },
        )
      }).catch(fail(`acquire ${name}`))
      return answer === 1
    },

    async release(name, owner) {
      await runScript(client, RELEASE, prefix + name, [owner]).catch(fail(`release ${name}`))
    },

    async holder(name) {
      return client.get(prefix + name).catch(fail(`holder ${name}`))
    },

    close: () => connection.close(),
  }
}

const sha1 = (script: string) => createHash('sha1').update(script).digest('hex')
const SHAS = new Map([ACQUIRE, RELEASE].map((script) => [script, sha1(script)]))

/** EVALSHA, falling back to EVAL when the server does not have the script (first use, or after a restart). */
async function runScript(client: Redis, script: string, key: string, args: string[]): Promise<unknown> {
  try {
    return await client.evalsha(SHAS.get(script) ?? sha1(script), 1, key, ...args)
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error
    return client.eval(script, 1, key, ...args)
  }
}

/** `promise`, or a rejection with `onTimeout()` when it has not settled after `ms`. */
function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  // A late answer after the deadline is dropped; a late rejection must not go unhandled.
  promise.catch(() => {})
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}
