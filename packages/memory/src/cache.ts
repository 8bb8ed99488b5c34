import { type Cache, type CacheCapabilities, CacheError, type Clock } from '@sluice/core'
import { createSystemClock } from './clock.js'

/** What the memory cache guarantees: values live in this process only. */
export const memoryCacheCapabilities: CacheCapabilities = Object.freeze({ sharedAcrossInstances: false })

/**
 * The data behind one or more memory caches. Caches created over the same store see each other's
 * writes, as processes sharing one Redis would; tests use it to stand in for a shared cache.
 * Opaque: only {@link createMemoryCache} reads it.
 */
export interface MemoryCacheStore {
  /** Identifies the object as a store; its data is not reachable through it. */
  readonly kind: 'memory-cache-store'
}

/** Options of {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /**
   * The time TTLs are measured against (checked lazily on every access, as Redis does).
   * @default createSystemClock()
   */
  clock?: Clock
  /**
   * Shares data with other memory caches created over the same store.
   * @default a new store private to this cache
   */
  store?: MemoryCacheStore
}

type Entry = { kind: 'string'; value: string; expiresAt?: number } | ListEntry

/** Lists are stored tail first, so LPUSH and LPOP are array push and pop at the head end. */
type ListEntry = { kind: 'list'; reversed: string[]; expiresAt?: number }

interface StoreData {
  entries: Map<string, Entry>
  /** Keys that carry a TTL, swept a few at a time so expired keys nobody reads do not pile up. */
  expiring: Set<string>
  sweepCursor: Iterator<string> | undefined
}

const storeData = new WeakMap<MemoryCacheStore, StoreData>()

/** How many TTL-carrying keys each write checks for expiry (Redis samples 20 as well). */
const SWEEP_SAMPLE = 20

/** Creates the backing data for memory caches that should share state. */
export function createMemoryCacheStore(): MemoryCacheStore {
  const store: MemoryCacheStore = Object.freeze({ kind: 'memory-cache-store' })
  storeData.set(store, { entries: new Map(), expiring: new Set(), sweepCursor: undefined })
  return store
}

/**
 * Creates a {@link Cache} in process memory with Redis semantics: strings and lists, TTLs checked
 * lazily against the clock (expired keys behave exactly like missing ones), empty lists removed.
 * @example
 * const cache = createMemoryCache({ clock: createManualClock() })
 * await cache.set('greeting', 'hi', 60)
 */
export function createMemoryCache(options: MemoryCacheOptions = {}): Cache {
  const clock = options.clock ?? createSystemClock()
  const data = storeData.get(options.store ?? createMemoryCacheStore())
  if (!data) {
    throw new CacheError(
      'the `store` option is not a memory cache store — create one with createMemoryCacheStore()',
      {
        retryable: false,
        code: 'cache.invalid_store',
      },
    )
  }
  const { entries, expiring } = data

  const isExpired = (entry: Entry) => entry.expiresAt !== undefined && entry.expiresAt <= clock.now()

  const remove = (key: string) => {
    entries.delete(key)
    expiring.delete(key)
  }

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key)
    if (entry && isExpired(entry)) {
      remove(key)
      return undefined
    }
    return entry
  }

  const sweep = () => {
    for (let i = 0; i < SWEEP_SAMPLE && expiring.size > 0; i++) {
      data.sweepCursor ??= expiring.values()
      const next = data.sweepCursor.next()
      if (next.done) {
        data.sweepCursor = undefined
        continue
      }
      live(next.value)
    }
  }

  const put = (key: string, entry: Entry) => {
    entries.set(key, entry)
    if (entry.expiresAt === undefined) expiring.delete(key)
    else expiring.add(key)
    sweep()
  }

  const list = (key: string, operation: string): ListEntry | undefined => {
    const entry = live(key)
    if (entry && entry.kind !== 'list') throw wrongType(key, operation, 'a string')
    return entry
  }

  const ttlToExpiry = (ttlSeconds: number, operation: string) => {
    if (!Number.isFinite(ttlSeconds)) {
      throw new CacheError(`${operation}: TTL must be a finite number of seconds, got ${ttlSeconds}`, {
        retryable: false,
        code: 'cache.invalid_ttl',
      })
    }
    return clock.now() + ttlSeconds * 1000
  }

  return {
    capabilities: memoryCacheCapabilities,

    async get(key) {
      const entry = live(key)
      return entry?.kind === 'string' ? entry.value : null
    },

    async getMany(keys) {
      return keys.map((key) => {
        const entry = live(key)
        return entry?.kind === 'string' ? entry.value : null
      })
    },

    async set(key, value, ttlSeconds) {
      const expiresAt =
        ttlSeconds !== undefined && ttlSeconds > 0 ? ttlToExpiry(ttlSeconds, `set ${key}`) : undefined
      put(key, expiresAt === undefined ? { kind: 'string', value } : { kind: 'string', value, expiresAt })
    },

    async incr(key, by) {
      if (!Number.isSafeInteger(by)) {
        throw new CacheError(`incr ${key}: the increment must be an integer, got ${by}`, {
          retryable: false,
          code: 'cache.not_an_integer',
        })
      }
      const entry = live(key)
      if (entry && entry.kind !== 'string') throw wrongType(key, 'incr', 'a list')
      const current = entry ? parseInteger(entry.value) : 0
      if (current === undefined) {
        throw new CacheError(
          `incr ${key}: the value is not an integer — incr only works on integer strings`,
          {
            retryable: false,
            code: 'cache.not_an_integer',
          },
        )
      }
      const result = current + by
      if (!Number.isSafeInteger(result)) {
        throw new CacheError(`incr ${key}: the result ${result} is outside the safe integer range`, {
          retryable: false,
          code: 'cache.overflow',
        })
      }
      const value = String(result)
      put(
        key,
        entry?.expiresAt === undefined
          ? { kind: 'string', value }
          : { kind: 'string', value, expiresAt: entry.expiresAt },
      )
      return result
    },

    async expire(key, ttlSeconds) {
      const entry = live(key)
      if (!entry) return false
      // As in Redis, a TTL of zero or less deletes the key at once.
      if (ttlSeconds <= 0) remove(key)
      else put(key, { ...entry, expiresAt: ttlToExpiry(ttlSeconds, `expire ${key}`) })
      return true
    },

    async del(keys) {
      let removed = 0
      for (const key of new Set(keys)) {
        if (live(key)) {
          remove(key)
          removed++
        }
      }
      return removed
    },

    async lpush(key, values) {
      const entry = list(key, 'lpush')
      if (values.length === 0) return entry?.reversed.length ?? 0
      if (entry) {
        entry.reversed.push(...values)
        return entry.reversed.length
      }
      put(key, { kind: 'list', reversed: [...values] })
      return values.length
    },

    async lrange(key, start, stop) {
      const reversed = list(key, 'lrange')?.reversed
      if (!reversed) return []
      const length = reversed.length
      const from = Math.max(0, start < 0 ? length + start : start)
      const to = Math.min(length - 1, stop < 0 ? length + stop : stop)
      const result: string[] = []
      for (let index = from; index <= to; index++) result.push(reversed[length - 1 - index] as string)
      return result
    },

    async llen(key) {
      return list(key, 'llen')?.reversed.length ?? 0
    },

    async lpop(key, count) {
      const entry = list(key, 'lpop')
      if (!entry || count <= 0) return []
      const taken = entry.reversed.splice(Math.max(0, entry.reversed.length - count)).reverse()
      if (entry.reversed.length === 0) remove(key)
      return taken
    },

    async lrem(key, count, value) {
      const entry = list(key, 'lrem')
      if (!entry) return 0
      const limit = count === 0 ? Number.POSITIVE_INFINITY : Math.abs(count)
      const fromHead = count >= 0
      const { reversed } = entry
      const kept: string[] = []
      let removed = 0
      // `reversed` runs tail to head, so walking it backwards walks from the head.
      const order = fromHead ? reversed.toReversed() : reversed
      for (const item of order) {
        if (item === value && removed < limit) removed++
        else kept.push(item)
      }
      if (removed === 0) return 0
      if (kept.length === 0) remove(key)
      else entry.reversed = fromHead ? kept.reverse() : kept
      return removed
    },
  }
}

function parseInteger(value: string): number | undefined {
  if (!/^-?\d+$/.test(value)) return undefined
  const parsed = Number(value)
  return Number.isSafeInteger(parsed) ? parsed : undefined
}

function wrongType(key: string, operation: string, actual: string): CacheError {
  return new CacheError(`${operation} ${key}: the key holds ${actual} — use a different key for this type`, {
    retryable: false,
    code: 'cache.wrong_type',
  })
}
