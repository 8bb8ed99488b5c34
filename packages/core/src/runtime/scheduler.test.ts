import { describe, expect, it } from 'vitest'
import { createTestRuntime } from '../../test/harness.js'
import type { Lock } from '../ports/lock.js'
import { createScheduler } from './scheduler.js'

/** A lock shared by the schedulers of one test, as a cluster's lock store would be. */
function sharedLock(now: () => number): Lock {
  const held = new Map<string, { owner: string; until: number }>()
  return {
    capabilities: { sharedAcrossInstances: true },
    async acquire(name, owner, ttlMs) {
      const current = held.get(name)
      if (current && current.owner !== owner && current.until > now()) return false
      held.set(name, { owner, until: now() + ttlMs })
      return true
    },
    async release(name, owner) {
      if (held.get(name)?.owner === owner) held.delete(name)
    },
    async holder(name) {
      const current = held.get(name)
      return current && current.until > now() ? current.owner : null
    },
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve))

describe('the scheduler', () => {
  it('runs runEveryMinute on one instance only, at each minute boundary', async () => {
    const runs: string[] = []
    const rt = createTestRuntime({ ticker: { runEveryMinute: () => void runs.push('tick') } })
    await rt.install('ticker')
    await rt.configs.reconcile()
    const lock = sharedLock(rt.clock.now)
    const one = createScheduler({
      clock: rt.clock,
      lock,
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'one',
    })
    const two = createScheduler({
      clock: rt.clock,
      lock,
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'two',
    })
    one.start()
    await flush()
    two.start()
    await flush()
    expect([one.isLeader(), two.isLeader()]).toEqual([true, false])
    // Two minutes, in steps of the renewal interval so each renewal is answered before the next.
    for (let step = 0; step < 12; step++) {
      rt.clock.advance(10_000)
      await flush()
    }
    expect(runs).toEqual(['tick', 'tick'])
    await one.stop()
    await two.stop()
  })

  it('hands leadership over when the leader stops renewing', async () => {
    const rt = createTestRuntime({})
    const lock = sharedLock(rt.clock.now)
    const one = createScheduler({
      clock: rt.clock,
      lock,
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'one',
      leaseMs: 30_000,
    })
    const two = createScheduler({
      clock: rt.clock,
      lock,
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'two',
      leaseMs: 30_000,
    })
    one.start()
    await flush()
    two.start()
    await flush()
    await one.stop()
    rt.clock.advance(10_000)
    await flush()
    expect(two.isLeader()).toBe(true)
    await two.stop()
  })

  it('stops acting as leader when its lease ends while a renewal hangs, and never stacks renewals', async () => {
    const runs: string[] = []
    const rt = createTestRuntime({ ticker: { runEveryMinute: () => void runs.push('tick') } })
    await rt.install('ticker')
    await rt.configs.reconcile()
    const lock = sharedLock(rt.clock.now)
    let hang = false
    let acquires = 0
    const hanging: Lock = {
      ...lock,
      acquire(name, owner, ttlMs) {
        acquires += 1
        return hang ? new Promise<boolean>(() => {}) : lock.acquire(name, owner, ttlMs)
      },
    }
    const scheduler = createScheduler({
      clock: rt.clock,
      lock: hanging,
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'one',
      leaseMs: 30_000,
    })
    scheduler.start()
    await flush()
    expect(scheduler.isLeader()).toBe(true)
    hang = true
    rt.clock.advance(10_000)
    await flush()
    expect(scheduler.isLeader()).toBe(true)
    rt.clock.advance(20_000)
    await flush()
    expect(scheduler.isLeader()).toBe(false)
    rt.clock.advance(30_000)
    await flush()
    expect(runs).toEqual([])
    expect(acquires).toBe(2)
    await scheduler.stop()
  })

  it('skips a run while the previous run of the same task is still going', async () => {
    let release: () => void = () => {}
    let runs = 0
    const rt = createTestRuntime({
      slow: {
        runEveryHour: () =>
          new Promise<void>((resolve) => {
            runs += 1
            release = resolve
          }),
      },
    })
    await rt.install('slow')
    await rt.configs.reconcile()
    const scheduler = createScheduler({
      clock: rt.clock,
      lock: sharedLock(rt.clock.now),
      configs: rt.configs,
      telemetry: rt.telemetry,
      owner: 'one',
    })
    scheduler.start()
    await flush()
    const first = scheduler.runPeriod('runEveryHour')
    await scheduler.runPeriod('runEveryHour')
    expect(runs).toBe(1)
    release()
    await first
    const third = scheduler.runPeriod('runEveryHour')
    await flush()
    expect(runs).toBe(2)
    release()
    await third
    expect(await rt.logs()).toContainEqual('warn: runEveryHour skipped: the previous run is still going')
    await scheduler.stop()
  })
})
