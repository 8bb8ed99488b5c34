import { type LogEntry, type LogQuery, type LogSink, LogSinkError } from '@sluice/core'

/** How many entries the memory log sink keeps per config unless told otherwise. */
export const DEFAULT_MAX_LOG_ENTRIES_PER_CONFIG = 10_000

/** The `limit` of a query that gives none. */
const DEFAULT_QUERY_LIMIT = 100

/** Options of {@link createMemoryLogSink}. */
export interface MemoryLogSinkOptions {
  /**
   * How many entries to keep per config. Each config has a ring of this size: appending to a
   * full ring drops that config's oldest-appended entry, so one noisy plugin cannot evict
   * another's logs or grow memory without bound.
   * @default 10_000 ({@link DEFAULT_MAX_LOG_ENTRIES_PER_CONFIG})
   */
  maxEntriesPerConfig?: number
}

/** A fixed-capacity ring of entries in append order. */
interface Ring {
  items: LogEntry[]
  /** Index of the oldest entry once the ring is full. */
  start: number
}

/**
 * Creates a {@link LogSink} in process memory, bounded per config. Queries return entries newest
 * first by `timestamp` (ties: the later-appended first), as copies.
 * @example
 * const logs = createMemoryLogSink({ maxEntriesPerConfig: 1000 })
 * await logs.append([entry])
 * await logs.query({ configId: 1, levels: ['error'] })
 */
export function createMemoryLogSink(options: MemoryLogSinkOptions = {}): LogSink {
  const capacity = options.maxEntriesPerConfig ?? DEFAULT_MAX_LOG_ENTRIES_PER_CONFIG
  if (!(Number.isSafeInteger(capacity) && capacity > 0)) {
    throw new LogSinkError(`maxEntriesPerConfig must be a positive integer, got ${capacity}`, {
      retryable: false,
      code: 'log-sink.invalid_option',
    })
  }
  const rings = new Map<number, Ring>()

  const add = (entry: LogEntry) => {
    let ring = rings.get(entry.configId)
    if (!ring) {
      ring = { items: [], start: 0 }
      rings.set(entry.configId, ring)
    }
    if (ring.items.length < capacity) {
      ring.items.push(entry)
      return
    }
    ring.items[ring.start] = entry
    ring.start = (ring.start + 1) % capacity
  }

  return {
    async append(entries) {
      for (const entry of entries) add({ ...entry })
    },

    async query(query: LogQuery) {
      const ring = rings.get(query.configId)
      if (!ring) return []
      const limit = Math.max(0, Math.floor(query.limit ?? DEFAULT_QUERY_LIMIT))
      const levels = query.levels ? new Set(query.levels) : undefined
      const matching: LogEntry[] = []
      // Newest-appended first, so the stable sort below breaks timestamp ties the same way.
      const { items, start } = ring
      for (let offset = items.length - 1; offset >= 0; offset--) {
        const entry = items[(start + offset) % items.length] as LogEntry
        if (query.since !== undefined && entry.timestamp < query.since) continue
        if (levels && !levels.has(entry.level)) continue
        if (query.search !== undefined && !entry.message.includes(query.search)) continue
        matching.push(entry)
      }
      return matching
        .sort((a, b) => b.timestamp - a.timestamp)
        .slice(0, limit)
        .map((entry) => ({ ...entry }))
    },
  }
}
