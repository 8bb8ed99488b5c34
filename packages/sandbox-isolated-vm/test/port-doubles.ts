// Unit-test doubles of the ports core's PluginHost is built over. This package may not depend on
// another adapter (not even @sluice/memory), so these hold just what the sandbox's tests exercise;
// the full port contracts are pinned by the conformance suites, which run in @sluice/testkit.
import {
  applyMetric,
  type Cache,
  CacheError,
  type Clock,
  type JobQueue,
  type LogEntry,
  type LogSink,
  type MetricsSink,
  type Storage,
} from '@sluice/core'

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  },
}

/** Strings and lists in a Map; TTLs are accepted and not enforced. */
export function createCacheDouble(): Cache {
  const data = new Map<string, string | string[]>()
  const text = (key: string) => {
    const value = data.get(key)
    return typeof value === 'string' ? value : null
  }
  const list = (key: string) => {
    const value = data.get(key) ?? []
    if (!Array.isArray(value))
      throw new CacheError(`'${key}' holds a string, not a list`, {
        retryable: false,
        code: 'cache.wrong-type',
      })
    return value
  }
  const index = (length: number, at: number) => (at < 0 ? length + at : at)
  return {
    capabilities: { sharedAcrossInstances: false },
    get: async (key) => text(key),
    getMany: async (keys) => keys.map(text),
    set: async (key, value) => void data.set(key, value),
    incr: async (key, by) => {
      const next = Number(text(key) ?? 0) + by
      data.set(key, String(next))
      return next
    },
    expire: async (key) => data.has(key),
    del: async (keys) => keys.filter((key) => data.delete(key)).length,
    lpush: async (key, values) => {
      const next = [...[...values].reverse(), ...list(key)]
      data.set(key, next)
      return next.length
    },
    lrange: async (key, start, stop) => {
      const values = list(key)
      return values.slice(Math.max(0, index(values.length, start)), index(values.length, stop) + 1)
    },
    llen: async (key) => list(key).length,
    lpop: async (key, count) => {
      const values = list(key)
      data.set(key, values.slice(count))
      return values.slice(0, count)
    },
    lrem: async (key, count, value) => {
      const values = list(key)
      const limit = count === 0 ? Number.POSITIVE_INFINITY : Math.abs(count)
      let removed = 0
      const ordered = count < 0 ? [...values].reverse() : values
      const kept = ordered.filter((item) => !(item === value && removed++ < limit))
      data.set(key, count < 0 ? kept.reverse() : kept)
      return Math.min(removed, limit)
    },
  }
}

export function createStorageDouble(): Storage {
  const data = new Map<string, string>()
  const k = (scope: string, key: string) => `${scope}\u0000${key}`
  return {
    capabilities: { durable: false, sharedAcrossInstances: false },
    get: async (scope, key) => data.get(k(scope, key)) ?? null,
    set: async (scope, key, value) => void data.set(k(scope, key), value),
    delete: async (scope, key) => void data.delete(k(scope, key)),
    setIfAbsent: async (scope, key, value) => {
      if (data.has(k(scope, key))) return false
      data.set(k(scope, key), value)
      return true
    },
    increment: async (scope, key, by) => {
      const next = Number(data.get(k(scope, key)) ?? 0) + by
      data.set(k(scope, key), String(next))
      return next
    },
  }
}

/** Accepts jobs and never hands them out: the sandbox's tests only check that plugins can enqueue. */
export function createJobQueueDouble(): JobQueue {
  let enqueued = 0
  return {
    capabilities: { durable: false, sharedAcrossInstances: false },
    enqueue: async (jobs) => jobs.map(() => `job-${++enqueued}`),
    claim: async () => [],
    complete: async () => false,
    reschedule: async () => false,
    count: async () => enqueued,
  }
}

export function createLogSinkDouble(): LogSink {
  const entries: LogEntry[] = []
  return {
    append: async (list) => void entries.push(...list),
    query: async ({ configId, limit = 100 }) =>
      entries
        .filter((entry) => entry.configId === configId)
        .reverse()
        .slice(0, limit),
  }
}

export function createMetricsSinkDouble(): MetricsSink {
  const values = new Map<number, Map<string, number>>()
  return {
    update: async (updates) => {
      for (const { configId, name, operation, value } of updates) {
        const config = values.get(configId) ?? new Map<string, number>()
        config.set(name, applyMetric(operation, config.get(name), value))
        values.set(configId, config)
      }
    },
    read: async (configId) => Object.fromEntries(values.get(configId) ?? []),
  }
}
