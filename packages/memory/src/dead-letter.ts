import {
  type Clock,
  DEAD_LETTER_SOURCES,
  type DeadLetter,
  DeadLetterError,
  type DeadLetterQuery,
  type DeadLetterStore,
  isDeadLetterSource,
  type NewDeadLetter,
} from '@sluice/core'
import { createSystemClock } from './clock.js'

/** Options of {@link createMemoryDeadLetterStore}. */
export interface MemoryDeadLetterStoreOptions {
  /**
   * Stamps `createdAt`.
   * @default createSystemClock()
   */
  clock?: Clock
}

const DEFAULT_LIST_LIMIT = 100
const ID_DIGITS = 16

/**
 * Creates a dead-letter store in process memory. Ids are zero-padded counters, so they sort as
 * strings in insertion order.
 *
 * @example
 * const deadLetters = createMemoryDeadLetterStore()
 * const [id] = await deadLetters.put([{ source: 'ingestion', reason: 'not JSON', payload: '{', teamId: null, configId: null }])
 */
export function createMemoryDeadLetterStore(options: MemoryDeadLetterStoreOptions = {}): DeadLetterStore {
  const clock = options.clock ?? createSystemClock()
  // A Map iterates in insertion order, which is id order.
  const entries = new Map<string, DeadLetter>()
  let seq = 0

  return {
    async put(newEntries) {
      newEntries.forEach(assertNewDeadLetter)
      const createdAt = clock.now()
      return newEntries.map((entry) => {
        seq += 1
        const id = String(seq).padStart(ID_DIGITS, '0')
        entries.set(id, {
          id,
          createdAt,
          source: entry.source,
          reason: entry.reason,
          payload: entry.payload,
          teamId: entry.teamId,
          configId: entry.configId,
        })
        return id
      })
    },

    async list(query: DeadLetterQuery = {}) {
      const limit = query.limit ?? DEFAULT_LIST_LIMIT
      if (!Number.isInteger(limit) || limit < 0) {
        throw new DeadLetterError(`list limit must be a non-negative integer, got ${String(limit)}`, {
          retryable: false,
          code: 'dead-letter.invalid',
        })
      }
      const found: DeadLetter[] = []
      if (limit === 0) return found
      for (const entry of entries.values()) {
        if (query.after !== undefined && entry.id <= query.after) continue
        if (query.source !== undefined && entry.source !== query.source) continue
        if (query.configId !== undefined && entry.configId !== query.configId) continue
        if (query.teamId !== undefined && entry.teamId !== query.teamId) continue
        found.push({ ...entry })
        if (found.length === limit) break
      }
      return found
    },

    async get(id) {
      const entry = entries.get(id)
      return entry ? { ...entry } : null
    },

    async delete(ids) {
      let deleted = 0
      for (const id of ids) if (entries.delete(id)) deleted += 1
      return deleted
    },
  }
}

function assertNewDeadLetter(entry: NewDeadLetter, index: number): void {
  const problem = (message: string) =>
    new DeadLetterError(`dead letter ${index}: ${message}`, { retryable: false, code: 'dead-letter.invalid' })
  if (!isDeadLetterSource(entry?.source)) {
    throw problem(
      `source must be one of ${DEAD_LETTER_SOURCES.join(', ')}, got ${JSON.stringify(entry?.source)}`,
    )
  }
  if (typeof entry.reason !== 'string') throw problem(`reason must be a string, got ${typeof entry.reason}`)
  if (typeof entry.payload !== 'string') {
    throw problem(`payload must be a string (serialize the input), got ${typeof entry.payload}`)
  }
  for (const field of ['teamId', 'configId'] as const) {
    if (entry[field] !== null && !Number.isInteger(entry[field])) {
      throw problem(`${field} must be an integer or null, got ${String(entry[field])}`)
    }
  }
}
