import type { Lock, LockCapabilities } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/** Long enough that real-time waits below keep a margin of a few hundred ms either side. */
const TTL_MS = 1000

/**
 * The {@link Lock} conformance suite: exclusive named locks with a TTL, renewed by re-acquiring.
 * @example
 * describeLockConformance('memory', ({ time }) => createMemoryLock({ clock: time.clock }), memoryLockCapabilities)
 */
export function describeLockConformance<T extends Lock>(
  name: string,
  factory: AdapterFactory<T>,
  capabilities: LockCapabilities,
  options: SuiteOptions<T> = {},
): void {
  describe(`Lock conformance: ${name}`, { timeout: options.time === 'real' ? 20_000 : 5_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let env: SuiteEnv
    let lock: T
    const lockName = (suffix = 'leader') => `${env.namespace}${suffix}`

    beforeEach(async () => {
      env = harness.begin()
      lock = await harness.create()
    })
    afterEach(() => harness.end())

    it('acquire of a free lock returns true and makes the owner the holder', async () => {
      expect(await lock.holder(lockName())).toBeNull()
      expect(await lock.acquire(lockName(), 'a', TTL_MS)).toBe(true)
      expect(await lock.holder(lockName())).toBe('a')
    })

    it('another owner cannot acquire a held lock', async () => {
      await lock.acquire(lockName(), 'a', TTL_MS)
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(false)
      expect(await lock.holder(lockName())).toBe('a')
    })

    it('locks with different names are independent', async () => {
      expect(await lock.acquire(lockName('one'), 'a', TTL_MS)).toBe(true)
      expect(await lock.acquire(lockName('two'), 'b', TTL_MS)).toBe(true)
      expect(await lock.holder(lockName('one'))).toBe('a')
      expect(await lock.holder(lockName('two'))).toBe('b')
    })

    it('the holder re-acquiring renews the TTL from that moment', async () => {
      expect(await lock.acquire(lockName(), 'a', TTL_MS)).toBe(true)
      await env.time.advance(700)
      expect(await lock.acquire(lockName(), 'a', TTL_MS)).toBe(true)
      // Past the first TTL (1000 ms), within the renewed one (1700 ms).
      await env.time.advance(500)
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(false)
      expect(await lock.holder(lockName())).toBe('a')
      await env.time.advance(700)
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(true)
      expect(await lock.holder(lockName())).toBe('b')
    })

    it('a holder that stops renewing loses the lock when the TTL ends', async () => {
      await lock.acquire(lockName(), 'a', TTL_MS)
      await env.time.advance(TTL_MS + 200)
      expect(await lock.holder(lockName())).toBeNull()
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(true)
      expect(await lock.holder(lockName())).toBe('b')
    })

    it('the former holder can take an expired lock again', async () => {
      await lock.acquire(lockName(), 'a', TTL_MS)
      await env.time.advance(TTL_MS + 200)
      expect(await lock.acquire(lockName(), 'a', TTL_MS)).toBe(true)
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(false)
    })

    it('release by the holder frees the lock at once', async () => {
      await lock.acquire(lockName(), 'a', TTL_MS)
      await lock.release(lockName(), 'a')
      expect(await lock.holder(lockName())).toBeNull()
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(true)
    })

    it('release by another owner does nothing', async () => {
      await lock.acquire(lockName(), 'a', TTL_MS)
      await lock.release(lockName(), 'b')
      expect(await lock.holder(lockName())).toBe('a')
      expect(await lock.acquire(lockName(), 'b', TTL_MS)).toBe(false)
    })

    it('release of a free lock resolves', async () => {
      await expect(lock.release(lockName(), 'a')).resolves.toBeUndefined()
      expect(await lock.holder(lockName())).toBeNull()
    })

    it('of 10 owners acquiring at once, exactly one wins and holds the lock', async () => {
      const owners = Array.from({ length: 10 }, (_, i) => `owner-${i}`)
      const results = await Promise.all(owners.map((owner) => lock.acquire(lockName(), owner, TTL_MS)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await lock.holder(lockName())).toBe(owners[results.indexOf(true)])
    })

    // Process-local locks exclude only within their process; the memory adapter's own tests
    // run this group over one shared store.
    describe.runIf(capabilities.sharedAcrossInstances)('across instances', () => {
      it('a lock held through one instance excludes owners on another', async () => {
        const other = await harness.create()
        expect(await lock.acquire(lockName(), 'a', TTL_MS)).toBe(true)
        expect(await other.acquire(lockName(), 'b', TTL_MS)).toBe(false)
        expect(await other.holder(lockName())).toBe('a')
        await other.release(lockName(), 'a')
        expect(await lock.holder(lockName())).toBeNull()
        expect(await other.acquire(lockName(), 'b', TTL_MS)).toBe(true)
        expect(await lock.holder(lockName())).toBe('b')
      })

      it('of owners on two instances acquiring at once, exactly one wins', async () => {
        const other = await harness.create()
        const owners = Array.from({ length: 10 }, (_, i) => `owner-${i}`)
        const results = await Promise.all(
          owners.map((owner, i) => (i % 2 === 0 ? lock : other).acquire(lockName(), owner, TTL_MS)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await other.holder(lockName())).toBe(owners[results.indexOf(true)])
      })
    })
  })
}
