import { CacheError, GeoIpError, StorageError, ValidationError } from '../errors.js'
import { addTime, checkMetricUpdate, parseRunAt } from '../policy/index.js'
import type { Cache } from '../ports/cache.js'
import type { Clock } from '../ports/clock.js'
import type { Fetch, FetchResponse } from '../ports/fetch.js'
import type { GeoIp } from '../ports/geoip.js'
import type { JobQueue } from '../ports/job-queue.js'
import type { LogLevel } from '../ports/log-sink.js'
import type { MetricOperation } from '../ports/metrics-sink.js'
import type {
  HostAttachment,
  HostResponse,
  JobTiming,
  PluginCacheApi,
  PluginCursorApi,
  PluginHost,
  PluginStorageApi,
  PostHogApiOptions,
} from '../ports/sandbox.js'
import type { Storage } from '../ports/storage.js'
import type { Telemetry } from './telemetry.js'

/** Events and job payloads above this many bytes of JSON are rejected (SPEC §2.2). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024

/** `meta.cache.lpush` accepts at most this many elements per call (SPEC §3). */
export const MAX_LPUSH_ELEMENTS = 1000

/** Where `posthog.api` sends requests when the plugin does not name a host. */
export interface PostHogApiSettings {
  /** e.g. `https://eu.posthog.com`. */
  host?: string
  projectApiKey?: string
  personalApiKey?: string
}

/** The services a plugin host is built over. */
export interface PluginHostServices {
  clock: Clock
  cache: Cache
  storage: Storage
  jobQueue: JobQueue
  telemetry: Telemetry
  fetch?: Fetch
  geoip?: GeoIp
  posthogApi?: PostHogApiSettings
  /** Re-enters the pipeline with a captured event (`posthog.capture`). */
  capture(origin: CaptureOrigin, event: string, properties: Record<string, unknown>): Promise<void>
}

/** Who captured an event, for the capture chain guard. */
export interface CaptureOrigin {
  pluginName: string
  configId: number
  teamId: number
}

/** The loaded config a host serves. */
export interface PluginHostContext {
  pluginId: number
  pluginName: string
  configId: number
  teamId: number
  config: Readonly<Record<string, unknown>>
  attachments: Readonly<Record<string, HostAttachment>>
  /** From `export const jobs`. */
  jobNames: readonly string[]
  /** From `export const metrics`. */
  metrics: Readonly<Record<string, MetricOperation>>
}

const decoder = new TextDecoder()

/** Byte length of a string's UTF-8 encoding, without allocating it. */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * The UTF-8 size of `text` when it is over {@link MAX_PAYLOAD_BYTES}, else null. Skips counting
 * when the string is too short to pass the limit (a UTF-16 unit is at most 3 UTF-8 bytes), which
 * is every ordinary event.
 */
export function oversizedPayloadBytes(text: string): number | null {
  if (text.length * 3 <= MAX_PAYLOAD_BYTES) return null
  const bytes = utf8Length(text)
  return bytes > MAX_PAYLOAD_BYTES ? bytes : null
}

function toHostResponse(response: FetchResponse): HostResponse {
  return {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
    body: decoder.decode(response.body),
  }
}

function createCacheApi(cache: Cache, prefix: string): PluginCacheApi {
  const k = (key: string) => `${prefix}${String(key)}`
  return {
    async set(key, value, ttlSeconds, options) {
      const text = options?.jsonSerialize === false ? String(value) : JSON.stringify(value)
      if (text === undefined)
        throw new CacheError(`cannot store ${String(value)} under '${key}'`, {
          retryable: false,
          code: 'cache.invalid-value',
        })
      await cache.set(k(key), text, ttlSeconds && ttlSeconds > 0 ? ttlSeconds : undefined)
    },
    async get(key, defaultValue, options) {
      const text = await cache.get(k(key))
      if (text === null) return defaultValue
      if (options?.jsonSerialize === false) return text
      try {
        return JSON.parse(text)
      } catch {
        return text
      }
    },
    incr: (key) => cache.incr(k(key), 1),
    expire: (key, ttlSeconds) => cache.expire(k(key), ttlSeconds),
    async lpush(key, elementOrArray) {
      const elements = (Array.isArray(elementOrArray) ? elementOrArray : [elementOrArray]).map(String)
      if (elements.length > MAX_LPUSH_ELEMENTS) {
        throw new CacheError(
          `lpush takes at most ${MAX_LPUSH_ELEMENTS} elements per call, got ${elements.length}`,
          {
            retryable: false,
            code: 'cache.too-many-elements',
          },
        )
      }
      return cache.lpush(k(key), elements)
    },
    lrange: (key, start, stop) => cache.lrange(k(key), start, stop),
    llen: (key) => cache.llen(k(key)),
    lpop: (key, count) => cache.lpop(k(key), count),
    lrem: (key, count, element) => cache.lrem(k(key), count, String(element)),
  }
}

function createStorageApi(storage: Storage, scope: string): PluginStorageApi {
  return {
    async get(key, defaultValue) {
      const text = await storage.get(scope, String(key))
      return text === null ? defaultValue : JSON.parse(text)
    },
    async set(key, value) {
      if (value === undefined) return storage.delete(scope, String(key))
      const text = JSON.stringify(value)
      if (text === undefined)
        throw new StorageError(`cannot store ${typeof value} under '${key}'`, {
          retryable: false,
          code: 'storage.invalid-value',
        })
      await storage.set(scope, String(key), text)
    },
    del: (key) => storage.delete(scope, String(key)),
  }
}

function createCursorApi(storage: Storage, scope: string): PluginCursorApi {
  return {
    async init(key, initialValue = 0) {
      if (!Number.isFinite(initialValue)) {
        throw new ValidationError('cursor', 'cursor.init needs a finite number', [
          { field: String(key), message: `got ${String(initialValue)}` },
        ])
      }
      await storage.setIfAbsent(scope, String(key), JSON.stringify(initialValue))
    },
    increment(key, incrementBy = 1) {
      if (!Number.isFinite(incrementBy)) {
        throw new ValidationError('cursor', 'cursor.increment needs a finite number', [
          { field: String(key), message: `got ${String(incrementBy)}` },
        ])
      }
      return storage.increment(scope, String(key), incrementBy)
    },
  }
}

/** The storage scope of a config's `meta.storage`. */
export function storageScope(configId: number): string {
  return `config/${configId}`
}

/** The storage scope of a config's `meta.utils.cursor`. */
export function cursorScope(configId: number): string {
  return `cursor/${configId}`
}

/** The cache key prefix of a plugin for a team (SPEC §3: `@plugin/<pluginId>/<teamId>/<key>`). */
export function cachePrefix(pluginId: number, teamId: number): string {
  return `@plugin/${pluginId}/${teamId}/`
}

/** Builds the {@link PluginHost} for one loaded plugin config over the runtime's ports. */
export function createPluginHost(services: PluginHostServices, context: PluginHostContext): PluginHost {
  const { clock, jobQueue, telemetry } = services
  const jobNames = new Set(context.jobNames)
  const origin: CaptureOrigin = {
    pluginName: context.pluginName,
    configId: context.configId,
    teamId: context.teamId,
  }

  const request = async (
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string },
  ) => {
    if (!services.fetch) {
      throw new ValidationError('fetch', 'this server has no HTTP client configured', [
        { field: 'fetch', message: 'outgoing requests are disabled' },
      ])
    }
    telemetry.countFetch(context.configId)
    // Only the request's own fields: a timeout is the operator's setting, never the plugin's.
    const { method, headers, body } = init
    const response = await services.fetch.request({
      url,
      ...(method === undefined ? {} : { method }),
      ...(headers === undefined ? {} : { headers }),
      ...(body === undefined ? {} : { body }),
    })
    return toHostResponse(response)
  }

  return {
    pluginId: context.pluginId,
    pluginName: context.pluginName,
    configId: context.configId,
    teamId: context.teamId,
    config: context.config,
    attachments: context.attachments,
    cache: createCacheApi(services.cache, cachePrefix(context.pluginId, context.teamId)),
    storage: createStorageApi(services.storage, storageScope(context.configId)),
    cursor: createCursorApi(services.storage, cursorScope(context.configId)),

    async enqueueJob(name: string, payload: unknown, timing: JobTiming) {
      if (!jobNames.has(name)) {
        const known = [...jobNames].join(', ') || 'none'
        throw new ValidationError('jobs', `unknown job '${name}'`, [
          { field: name, message: `this plugin defines: ${known}` },
        ])
      }
      const now = clock.now()
      const runAt =
        timing.kind === 'now'
          ? now
          : timing.kind === 'in'
            ? addTime(now, timing.amount, timing.unit)
            : parseRunAt(timing.date)
      const text = JSON.stringify(payload ?? null)
      const oversized = oversizedPayloadBytes(text)
      if (oversized !== null) {
        throw new ValidationError('jobs', `payload of job '${name}' is too large`, [
          { field: name, message: `${oversized} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES}` },
        ])
      }
      await jobQueue.enqueue([{ kind: 'plugin-job', configId: context.configId, name, payload: text, runAt }])
    },

    updateMetric(name, operation, value) {
      checkMetricUpdate(context.metrics, name, operation, value)
      const declared = context.metrics[name] as MetricOperation
      telemetry.recordMetric({
        configId: context.configId,
        name,
        operation: declared,
        value: value as number,
      })
    },

    locateIp(ip) {
      if (!services.geoip) {
        return Promise.reject(
          new GeoIpError(
            'no GeoIP database is configured — set SLUICE_GEOIP_PATH to a MaxMind City .mmdb file',
            {
              retryable: false,
              code: 'geoip.not-configured',
            },
          ),
        )
      }
      return services.geoip.locate(String(ip))
    },

    fetch: (url, init) => request(String(url), init ?? {}),

    capture: (event, properties) => services.capture(origin, String(event), properties ?? {}),

    async api(method, path, options: PostHogApiOptions = {}) {
      const host = options.host ?? services.posthogApi?.host
      if (!host) {
        throw new ValidationError('posthog-api', 'no PostHog host configured', [
          { field: 'host', message: 'pass { host } or set SLUICE_POSTHOG_API_HOST' },
        ])
      }
      const personalApiKey = options.personalApiKey ?? services.posthogApi?.personalApiKey
      const projectApiKey = options.projectApiKey ?? services.posthogApi?.projectApiKey
      const url = new URL(String(path).replace(/^\/?/, '/'), host)
      const data = options.data ?? {}
      const headers: Record<string, string> = {}
      if (personalApiKey) headers.authorization = `Bearer ${personalApiKey}`
      let body: string | undefined
      if (method === 'GET' || method === 'DELETE') {
        for (const [key, value] of Object.entries(data)) {
          url.searchParams.set(key, typeof value === 'string' ? value : JSON.stringify(value))
        }
        if (projectApiKey) url.searchParams.set('token', projectApiKey)
      } else {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(projectApiKey ? { token: projectApiKey, ...data } : data)
      }
      return request(url.toString(), body === undefined ? { method, headers } : { method, headers, body })
    },

    log(level: LogLevel, message: string) {
      telemetry.log({ configId: context.configId, teamId: context.teamId, level, source: 'plugin', message })
    },
  }
}
