import { type Storage, type StorageCapabilities, StorageError } from '@sluice/core'

/** What memory storage guarantees: values live in this process only and are lost on restart. */
export const memoryStorageCapabilities: StorageCapabilities = Object.freeze({
  durable: false,
  sharedAcrossInstances: false,
})

/**
 * The data behind one or more memory storages. Storages created over the same store see each
 * other's writes; tests use it to stand in for a shared database. Opaque: only
 * {@link createMemoryStorage} reads it.
 */
export interface MemoryStorageStore {
  /** Identifies the object as a store; its data is not reachable through it. */
  readonly kind: 'memory-storage-store'
}

/** Options of {@link createMemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * Shares data with other memory storages created over the same store.
   * @default a new store private to this storage
   */
  store?: MemoryStorageStore
}

type Scopes = Map<string, Map<string, string>>

const storeData = new WeakMap<MemoryStorageStore, Scopes>()

/** Creates the backing data for memory storages that should share state. */
export function createMemoryStorageStore(): MemoryStorageStore {
  const store: MemoryStorageStore = Object.freeze({ kind: 'memory-storage-store' })
  storeData.set(store, new Map())
  return store
}

/**
 * Creates a {@link Storage} in process memory. Every operation completes synchronously inside its
 * promise, so `setIfAbsent` and `increment` are atomic within the process. Values must be JSON
 * text, as a database's JSON column would require.
 * @example
 * const storage = createMemoryStorage()
 * await storage.setIfAbsent('config-1', 'cursor', '0')
 * await storage.increment('config-1', 'cursor', 1) // 1
 */
export function createMemoryStorage(options: MemoryStorageOptions = {}): Storage {
  const scopes = storeData.get(options.store ?? createMemoryStorageStore())
  if (!scopes) {
    throw new StorageError(
      'the `store` option is not a memory storage store — create one with createMemoryStorageStore()',
      { retryable: false, code: 'storage.invalid_store' },
    )
  }

  const scopeFor = (scope: string) => {
    let values = scopes.get(scope)
    if (!values) {
      values = new Map()
      scopes.set(scope, values)
    }
    return values
  }

  return {
    capabilities: memoryStorageCapabilities,

    async get(scope, key) {
      return scopes.get(scope)?.get(key) ?? null
    },

    async set(scope, key, value) {
      assertJson(scope, key, value)
      scopeFor(scope).set(key, value)
    },

    async delete(scope, key) {
      const values = scopes.get(scope)
      if (!values) return
      values.delete(key)
      if (values.size === 0) scopes.delete(scope)
    },

    async setIfAbsent(scope, key, value) {
      assertJson(scope, key, value)
      const values = scopeFor(scope)
      if (values.has(key)) return false
      values.set(key, value)
      return true
    },

    async increment(scope, key, by) {
      if (!Number.isFinite(by)) {
        throw new StorageError(`increment ${scope}/${key}: \`by\` must be a finite number, got ${by}`, {
          retryable: false,
          code: 'storage.invalid_increment',
        })
      }
      const values = scopeFor(scope)
      const stored = values.get(key)
      const current = stored === undefined ? 0 : parseNumber(stored)
      if (current === undefined) {
        throw new StorageError(
          `increment ${scope}/${key}: the stored value ${truncate(stored ?? '')} is not a JSON number — ` +
            'use a key that only ever holds numbers',
          { retryable: false, code: 'storage.not_a_number' },
        )
      }
      const result = current + by
      if (!Number.isFinite(result)) {
        throw new StorageError(`increment ${scope}/${key}: the result overflows a JSON number`, {
          retryable: false,
          code: 'storage.overflow',
        })
      }
      values.set(key, JSON.stringify(result))
      return result
    },
  }
}

function assertJson(scope: string, key: string, value: string): void {
  try {
    JSON.parse(value)
  } catch (cause) {
    throw new StorageError(
      `set ${scope}/${key}: the value ${truncate(value)} is not JSON text — serialise it with JSON.stringify`,
      { retryable: false, code: 'storage.invalid_json', cause },
    )
  }
}

function parseNumber(text: string): number | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'number' ? value : undefined
  } catch {
    return undefined
  }
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
