// Minimal port doubles for core's unit tests. The reference implementations live in @sluice/memory
// (which depends on core, so core cannot use them); these hold just enough behaviour for the runtime.
import { RegistryError, SinkError } from '../src/errors.js'
import type { ProcessedPluginEvent } from '../src/events.js'
import type { Bus } from '../src/ports/bus.js'
import type { Cache } from '../src/ports/cache.js'
import type { Clock } from '../src/ports/clock.js'
import type { DeadLetter, DeadLetterStore } from '../src/ports/dead-letter.js'
import type { Job, JobQueue } from '../src/ports/job-queue.js'
import type { Lock } from '../src/ports/lock.js'
import type { LogEntry, LogSink } from '../src/ports/log-sink.js'
import type { MetricsSink } from '../src/ports/metrics-sink.js'
import type { BatchHandler, QueueRecord, QueueTransport } from '../src/ports/queue.js'
import type { AttachmentRecord, PluginConfigRecord, PluginRecord, Registry } from '../src/ports/registry.js'
import type { Sink } from '../src/ports/sink.js'
import type { Storage } from '../src/ports/storage.js'

export function createCacheDouble(): Cache & { data: Map<string, string | string[]> } {
  const data = new Map<string, string | string[]>()
  const list = (key: string) => {
    const value = data.get(key)
    return Array.isArray(value) ? value : []
  }
  return {
    data,
    capabilities: { sharedAcrossInstances: false },
    get: async (key) => {
      const value = data.get(key)
      return typeof value === 'string' ? value : null
    },
    getMany: async (keys) =>
      keys.map((key) => (typeof data.get(key) === 'string' ? (data.get(key) as string) : null)),
    set: async (key, value) => void data.set(key, value),
    incr: async (key, by) => {
      const next = Number(data.get(key) ?? 0) + by
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
    lrange: async (key, start, stop) => list(key).slice(start, stop < 0 ? undefined : stop + 1),
    llen: async (key) => list(key).length,
    lpop: async (key, count) => {
      const current = list(key)
      data.set(key, current.slice(count))
      return current.slice(0, count)
    },
    lrem: async () => 0,
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
      const next = Number(JSON.parse(data.get(k(scope, key)) ?? '0')) + by
      data.set(k(scope, key), JSON.stringify(next))
      return next
    },
  }
}

export function createJobQueueDouble(): JobQueue & {
  jobs: Map<string, Job & { owner?: string; leaseUntil?: number }>
} {
  const jobs = new Map<string, Job & { owner?: string; leaseUntil?: number }>()
  let nextId = 0
  return {
    jobs,
    capabilities: { durable: false, sharedAcrossInstances: false },
    enqueue: async (list) =>
      list.map((job) => {
        const id = String(++nextId)
        jobs.set(id, { ...job, attempt: job.attempt ?? 0, id })
        return id
      }),
    claim: async ({ now, limit, owner, leaseMs }) => {
      const due = [...jobs.values()]
        .filter((job) => job.runAt <= now && (job.leaseUntil === undefined || job.leaseUntil <= now))
        .sort((a, b) => a.runAt - b.runAt || Number(a.id) - Number(b.id))
        .slice(0, limit)
      for (const job of due) {
        job.owner = owner
        job.leaseUntil = now + leaseMs
      }
      return due.map(({ owner: _o, leaseUntil: _l, ...job }) => ({ ...job }))
    },
    complete: async (id, owner) => jobs.get(id)?.owner === owner && jobs.delete(id),
    reschedule: async (id, owner, runAt, attempt) => {
      const job = jobs.get(id)
      if (!job || job.owner !== owner) return false
      Object.assign(job, { runAt, attempt, owner: undefined, leaseUntil: undefined })
      return true
    },
    count: async () => jobs.size,
  }
}

export function createRegistryDouble(clock: Clock): Registry {
  const plugins = new Map<number, PluginRecord>()
  const configs = new Map<number, PluginConfigRecord>()
  const attachments = new Map<string, AttachmentRecord>()
  let ids = 0
  const bump = (id: number) => {
    const config = configs.get(id)
    if (config) configs.set(id, { ...config, revision: config.revision + 1, updatedAt: clock.now() })
  }
  return {
    createPlugin: async (plugin) => {
      const record = { ...plugin, id: ++ids, createdAt: clock.now(), updatedAt: clock.now() }
      plugins.set(record.id, record)
      return record
    },
    updatePlugin: async (id, plugin) => {
      const existing = plugins.get(id)
      if (!existing)
        throw new RegistryError(`no plugin ${id}`, { retryable: false, code: 'registry.not-found' })
      const record = { ...existing, ...plugin, updatedAt: clock.now() }
      plugins.set(id, record)
      return record
    },
    getPlugin: async (id) => plugins.get(id) ?? null,
    listPlugins: async () => [...plugins.values()],
    deletePlugin: async (id) => plugins.delete(id),
    createConfig: async (config) => {
      if (!plugins.has(config.pluginId))
        throw new RegistryError('no plugin', { retryable: false, code: 'registry.not-found' })
      const record = {
        ...config,
        id: ++ids,
        error: null,
        revision: 1,
        createdAt: clock.now(),
        updatedAt: clock.now(),
      }
      configs.set(record.id, record)
      return record
    },
    updateConfig: async (id, changes) => {
      const existing = configs.get(id)
      if (!existing)
        throw new RegistryError(`no config ${id}`, { retryable: false, code: 'registry.not-found' })
      const record = { ...existing, ...changes, revision: existing.revision + 1, updatedAt: clock.now() }
      configs.set(id, record)
      return record
    },
    getConfig: async (id) => configs.get(id) ?? null,
    listConfigs: async (filter = {}) =>
      [...configs.values()]
        .filter((c) => filter.enabled === undefined || c.enabled === filter.enabled)
        .filter((c) => filter.teamId === undefined || c.teamId === filter.teamId)
        .sort((a, b) => a.teamId - b.teamId || a.order - b.order || a.id - b.id),
    deleteConfig: async (id) => configs.delete(id),
    putAttachment: async (attachment) => {
      attachments.set(`${attachment.configId}/${attachment.key}`, attachment)
      bump(attachment.configId)
    },
    listAttachments: async (configId) => [...attachments.values()].filter((a) => a.configId === configId),
    deleteAttachment: async (configId, key) => attachments.delete(`${configId}/${key}`),
  }
}

export function createLogSinkDouble(): LogSink & { entries: LogEntry[] } {
  const entries: LogEntry[] = []
  return {
    entries,
    append: async (list) => void entries.push(...list),
    query: async ({ configId }) => entries.filter((e) => e.configId === configId).reverse(),
  }
}

export function createMetricsSinkDouble(): MetricsSink & { values: Map<string, number> } {
  const values = new Map<string, number>()
  return {
    values,
    update: async (updates) => {
      for (const u of updates) {
        const key = `${u.configId}/${u.name}`
        const current = values.get(key)
        values.set(
          key,
          current === undefined
            ? u.value
            : u.operation === 'sum'
              ? current + u.value
              : u.operation === 'max'
                ? Math.max(current, u.value)
                : Math.min(current, u.value),
        )
      }
    },
    read: async (configId) =>
      Object.fromEntries(
        [...values].filter(([k]) => k.startsWith(`${configId}/`)).map(([k, v]) => [k.split('/')[1], v]),
      ),
  }
}

export function createDeadLetterDouble(clock: Clock): DeadLetterStore & { entries: DeadLetter[] } {
  const entries: DeadLetter[] = []
  return {
    entries,
    put: async (list) =>
      list.map((entry) => {
        const stored = { ...entry, id: String(entries.length + 1).padStart(12, '0'), createdAt: clock.now() }
        entries.push(stored)
        return stored.id
      }),
    list: async () => [...entries],
    get: async (id) => entries.find((e) => e.id === id) ?? null,
    delete: async (ids) =>
      ids.filter((id) => {
        const index = entries.findIndex((e) => e.id === id)
        if (index >= 0) entries.splice(index, 1)
        return index >= 0
      }).length,
  }
}

/** A sink keeping what it accepts; `failNext` writes fail (retryable), `refuseNext` are refused for good. */
export function createSinkDouble(
  name = 'test',
): Sink & { events: ProcessedPluginEvent[]; failNext: number; refuseNext: number } {
  const sink = {
    name,
    events: [] as ProcessedPluginEvent[],
    failNext: 0,
    refuseNext: 0,
    async write(events: readonly ProcessedPluginEvent[]) {
      if (sink.failNext > 0) {
        sink.failNext -= 1
        throw new Error('sink unavailable')
      }
      if (sink.refuseNext > 0) {
        sink.refuseNext -= 1
        throw new SinkError('HTTP 400: bad batch', { retryable: false, code: 'sink.rejected' })
      }
      sink.events.push(...structuredClone(events))
    },
    async close() {},
  }
  return sink
}

export function createQueueDouble(): QueueTransport & {
  produced: Map<string, QueueRecord[]>
  consumers: { topic: string; group: string; handler: BatchHandler; stopped: boolean }[]
} {
  const produced = new Map<string, QueueRecord[]>()
  const consumers: { topic: string; group: string; handler: BatchHandler; stopped: boolean }[] = []
  return {
    produced,
    consumers,
    capabilities: { orderedByKey: true, redelivers: false, sharedConsumption: false, durable: false },
    produce: async (topic, records) => void produced.set(topic, [...(produced.get(topic) ?? []), ...records]),
    consume: async (topic, options, handler) => {
      const consumer = { topic, group: options.group, handler, stopped: false }
      consumers.push(consumer)
      return {
        stop: async () => {
          consumer.stopped = true
        },
      }
    },
    close: async () => {},
  }
}

export function createBusDouble(): Bus {
  const handlers = new Map<string, Set<(message: string) => void>>()
  return {
    capabilities: { sharedAcrossInstances: false },
    publish: async (channel, message) => {
      for (const handler of handlers.get(channel) ?? []) handler(message)
    },
    subscribe: async (channel, handler) => {
      const set = handlers.get(channel) ?? new Set()
      set.add(handler)
      handlers.set(channel, set)
      return async () => void set.delete(handler)
    },
  }
}

export function createLockDouble(): Lock {
  const held = new Map<string, string>()
  return {
    capabilities: { sharedAcrossInstances: false },
    acquire: async (name, owner) => {
      if (held.has(name) && held.get(name) !== owner) return false
      held.set(name, owner)
      return true
    },
    release: async (name, owner) => {
      if (held.get(name) === owner) held.delete(name)
    },
    holder: async (name) => held.get(name) ?? null,
  }
}
