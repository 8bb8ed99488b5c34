import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  type Clock,
  type ConfigManager,
  createScheduler,
  type Lock,
  SCHEDULER_LOCK,
  type Scheduler,
  type Telemetry,
} from '@sluice/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, rawClient } from '../test/redis.js'
import { createRedisStores, type RedisStores } from './stores.js'

// Issue 4: restart Redis while the leader renews its lock and show leadership moves cleanly. The
// restart loses Redis' data, so this runs on a Redis of its own, never the shared one.
const port = Number(process.env.SLUICE_TEST_REDIS_RESTART_PORT ?? 6390)
const url = `redis://127.0.0.1:${port}`
const script = fileURLToPath(new URL('../../../tooling/services/redis.sh', import.meta.url))
const redis = (command: 'start' | 'restart' | 'stop') =>
  promisify(execFile)('bash', [script, command], { env: { ...process.env, SLUICE_REDIS_PORT: String(port) } })

/** Leadership lasts this long without renewal; the scheduler renews every third of it. */
const LEASE_MS = 2000
/**
 * After Redis returns: its restart guard grants nothing until it has been up one lease plus up to
 * 2 s (whole-second uptime), then the next renewal (a third of a lease) takes it; ioredis needs a
 * moment to reconnect. Generous for two busy cores.
 */
const RE_ELECTION_BOUND_MS = LEASE_MS + 2000 + LEASE_MS / 3 + 6000

const LOCK_KEY = `durability:${SCHEDULER_LOCK}`

const realClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  },
}

/** No plugin configs: the scheduler only elects and renews. */
const noConfigs: ConfigManager = {
  reconcile: async () => {},
  chain: () => [],
  teamConfigs: () => [],
  get: () => undefined,
  all: () => [],
  retrySetup: async () => {},
  close: async () => {},
}

const quietTelemetry: Telemetry = {
  log: () => {},
  recordMetric: () => {},
  countFetch: () => {},
  count: () => {},
  counters: () => ({ eventsIn: 0, eventsOut: 0, eventsDropped: 0, eventsFailed: 0, fetches: 0 }),
  observeCalls: () => {},
  callLatency: () => [],
  flush: async () => {},
  close: async () => {},
}

interface Contender {
  owner: string
  stores: RedisStores
  scheduler: Scheduler
  /** Resolves when this contender's next renewal is sent (`sent`) or has returned true (`held`). */
  nextRenewal(moment: 'sent' | 'held'): Promise<void>
}

function contender(owner: string): Contender {
  const stores = createRedisStores({ url, keyPrefix: 'durability:' })
  const waiting: { moment: 'sent' | 'held'; resolve: () => void }[] = []
  const notify = (moment: 'sent' | 'held') => {
    for (const waiter of waiting.filter((w) => w.moment === moment)) {
      waiting.splice(waiting.indexOf(waiter), 1)
      waiter.resolve()
    }
  }
  // The scheduler's own lock calls, observed so the test can restart Redis at a chosen moment.
  const lock: Lock = {
    capabilities: stores.lock.capabilities,
    async acquire(name, who, ttlMs) {
      notify('sent')
      const held = await stores.lock.acquire(name, who, ttlMs)
      if (held) notify('held')
      return held
    },
    release: (name, who) => stores.lock.release(name, who),
    holder: (name) => stores.lock.holder(name),
  }
  const scheduler = createScheduler({
    clock: realClock,
    lock,
    configs: noConfigs,
    telemetry: quietTelemetry,
    owner,
    leaseMs: LEASE_MS,
  })
  return {
    owner,
    stores,
    scheduler,
    nextRenewal: (moment) => new Promise((resolve) => waiting.push({ moment, resolve })),
  }
}

/** Samples both contenders' belief every few ms. */
function watchLeadership(contenders: readonly Contender[]) {
  const samples: { at: number; leaders: string[] }[] = []
  const timer = setInterval(() => {
    samples.push({
      at: Date.now(),
      leaders: contenders.filter((c) => c.scheduler.isLeader()).map((c) => c.owner),
    })
  }, 5)
  return {
    samples,
    leaders: () => contenders.filter((c) => c.scheduler.isLeader()),
    stop: () => clearInterval(timer),
  }
}

/** 'never two leaders', or when and for how many samples both contenders claimed leadership. */
function describeOverlap(samples: readonly { at: number; leaders: string[] }[], since: number): string {
  const both = samples.filter((sample) => sample.leaders.length > 1)
  if (both.length === 0) return 'never two leaders'
  const first = (both[0]?.at ?? 0) - since
  const last = (both.at(-1)?.at ?? 0) - since
  return `two leaders in ${both.length} samples, from ${first} to ${last} ms after ${since}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('leader election across Redis restarts', { timeout: 90_000 }, () => {
  const raw = rawClient(url)
  let a: Contender
  let b: Contender
  let watch: ReturnType<typeof watchLeadership>
  const notices: string[] = []

  beforeAll(async () => {
    await redis('start')
    a = contender('contender-a')
    b = contender('contender-b')
    watch = watchLeadership([a, b])
    a.scheduler.start()
    // Renewals out of phase, as on separate machines.
    await sleep(LEASE_MS / 6)
    b.scheduler.start()
    // Made once, before any restart: it must survive them without re-subscribing.
    await a.stores.bus.subscribe('changes', (message) => void notices.push(message))
  }, 30_000)

  afterAll(async () => {
    watch?.stop()
    for (const c of [a, b]) await c?.scheduler.stop()
    for (const c of [a, b]) await c?.stores.close()
    raw.disconnect()
    await redis('stop')
  }, 30_000)

  /** Waits for one stable leader that holds the lock in Redis and has renewed it for two leases. */
  async function stableLeader(): Promise<Contender> {
    await eventually('one leader', () => watch.leaders().length === 1, RE_ELECTION_BOUND_MS)
    const leader = watch.leaders()[0] as Contender
    await eventually('the lock held in Redis', async () => (await raw.get(LOCK_KEY)) === leader.owner)
    // Without renewals the lease would run out twice over in this time.
    await sleep(2 * LEASE_MS)
    expect(watch.leaders()).toEqual([leader])
    expect(await raw.get(LOCK_KEY)).toBe(leader.owner)
    return leader
  }

  /** Restarts Redis at `moment` of the leader's renewal and checks how leadership moves on. */
  async function restartDuringRenewal(moment: 'sent' | 'held') {
    const old = await stableLeader()
    await old.stores.cache.set('before-restart', 'lost')

    await old.nextRenewal(moment)
    const restartedAt = Date.now()
    await redis('restart')
    const returnedAt = Date.now()

    // Redis lost every key, the lease with them; the old leader must notice on a renewal.
    await eventually('the old leader stepping down', () => !old.scheduler.isLeader(), RE_ELECTION_BOUND_MS)
    await eventually('one leader again', () => watch.leaders().length === 1, RE_ELECTION_BOUND_MS)
    expect(Date.now() - returnedAt).toBeLessThan(RE_ELECTION_BOUND_MS)
    await stableLeader()

    const since = watch.samples.filter((sample) => sample.at >= restartedAt)
    expect(describeOverlap(since, restartedAt)).toBe('never two leaders')
    expect(since.some((sample) => sample.leaders.length === 0)).toBe(true)

    // The same cache and bus objects work again: the data is gone, the connections are back.
    expect(await old.stores.cache.get('before-restart')).toBeNull()
    await a.stores.cache.set('after-restart', moment)
    expect(await b.stores.cache.get('after-restart')).toBe(moment)
    const notice = `after-restart-${moment}`
    await eventually(
      'a notice through the re-subscribed bus',
      async () => {
        await b.stores.bus.publish('changes', notice)
        return notices.includes(notice)
      },
      10_000,
    )
  }

  it('restart right after the leader renewed (the follower asks first once Redis is back)', async () => {
    await restartDuringRenewal('held')
  })

  it('restart as the leader sends a renewal (the renewal meets a Redis going down)', async () => {
    await restartDuringRenewal('sent')
  })

  it('never had two leaders at once, over the whole run', () => {
    expect(watch.samples.length).toBeGreaterThan(1000)
    expect(describeOverlap(watch.samples, watch.samples[0]?.at ?? 0)).toBe('never two leaders')
  })
})
