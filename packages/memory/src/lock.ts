import { type Clock, type Lock, type LockCapabilities, LockError } from '@sluice/core'
import { createSystemClock } from './clock.js'

/** What the memory lock guarantees: it excludes holders in this process only. */
export const memoryLockCapabilities: LockCapabilities = Object.freeze({ sharedAcrossInstances: false })

/**
 * The data behind one or more memory locks. Locks created over the same store exclude each
 * other's holders; tests use it to stand in for a shared lock service. Opaque: only
 * {@link createMemoryLock} reads it.
 */
export interface MemoryLockStore {
  /** Identifies the object as a store; its data is not reachable through it. */
  readonly kind: 'memory-lock-store'
}

/** Options of {@link createMemoryLock}. */
export interface MemoryLockOptions {
  /**
   * The time TTLs are measured against.
   * @default createSystemClock()
   */
  clock?: Clock
  /**
   * Shares locks with other memory locks created over the same store.
   * @default a new store private to this lock
   */
  store?: MemoryLockStore
}

interface Held {
  owner: string
  expiresAt: number
}

const storeData = new WeakMap<MemoryLockStore, Map<string, Held>>()

/** Creates the backing data for memory locks that should exclude each other. */
export function createMemoryLockStore(): MemoryLockStore {
  const store: MemoryLockStore = Object.freeze({ kind: 'memory-lock-store' })
  storeData.set(store, new Map())
  return store
}

/**
 * Creates a {@link Lock} in process memory. A lock whose TTL has passed is free; expiry is checked
 * against the clock on every call, so no timers run.
 * @example
 * const lock = createMemoryLock({ clock })
 * await lock.acquire('leader', 'instance-a', 30_000) // true
 */
export function createMemoryLock(options: MemoryLockOptions = {}): Lock {
  const clock = options.clock ?? createSystemClock()
  const locks = storeData.get(options.store ?? createMemoryLockStore())
  if (!locks) {
    throw new LockError(
      'the `store` option is not a memory lock store — create one with createMemoryLockStore()',
      {
        retryable: false,
        code: 'lock.invalid_store',
      },
    )
  }

  const current = (name: string): Held | undefined => {
    const held = locks.get(name)
    if (held && held.expiresAt <= clock.now()) {
      locks.delete(name)
      return undefined
    }
    return held
  }

  return {
    capabilities: memoryLockCapabilities,

    async acquire(name, owner, ttlMs) {
      if (!(Number.isFinite(ttlMs) && ttlMs > 0)) {
        throw new LockError(`acquire ${name}: the TTL must be a positive number of ms, got ${ttlMs}`, {
          retryable: false,
          code: 'lock.invalid_ttl',
        })
      }
      const held = current(name)
      if (held && held.owner !== owner) return false
      locks.set(name, { owner, expiresAt: clock.now() + ttlMs })
      return true
    },

    async release(name, owner) {
      if (current(name)?.owner === owner) locks.delete(name)
    },

    async holder(name) {
      return current(name)?.owner ?? null
    },
  }
}
