import { describeLockConformance } from '@sluice/conformance'
import { LockError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryLock, createMemoryLockStore, memoryLockCapabilities } from './lock.js'

describeLockConformance(
  'memory',
  ({ time }) => createMemoryLock({ clock: time.clock }),
  memoryLockCapabilities,
)

// Locks over one store exclude each other like processes sharing a lock service, so the
// shared-instance cases run here too. The suite namespaces its lock names.
const sharedStore = createMemoryLockStore()
describeLockConformance(
  'memory over a shared store',
  ({ time }) => createMemoryLock({ clock: time.clock, store: sharedStore }),
  { ...memoryLockCapabilities, sharedAcrossInstances: true },
)

describe('createMemoryLock', () => {
  it('declares that it excludes within this process only', () => {
    expect(createMemoryLock().capabilities).toEqual({ sharedAcrossInstances: false })
  })

  it('locks without a shared store do not exclude each other', async () => {
    expect(await createMemoryLock().acquire('leader', 'a', 1000)).toBe(true)
    expect(await createMemoryLock().acquire('leader', 'b', 1000)).toBe(true)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('acquire rejects a TTL of %s ms', async (ttl) => {
    const error = await createMemoryLock()
      .acquire('leader', 'a', ttl)
      .then(
        () => undefined,
        (rejection: unknown) => rejection,
      )
    expect(error).toBeInstanceOf(LockError)
    expect(error).toMatchObject({ retryable: false, code: 'lock.invalid_ttl' })
  })
})
