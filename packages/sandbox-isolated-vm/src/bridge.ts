import { createHash, createHmac, getHashes, randomBytes, randomUUID } from 'node:crypto'
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib'
import { describeError, type JobTiming, type LogLevel, type PluginHost, SluiceError } from '@sluice/core'

/** Limits the host applies to what plugin code asks of it. */
export interface BridgeLimits {
  /** Longest request a plugin may send across the boundary, in characters. */
  maxRequestChars: number
  /** Host calls a plugin context may have in flight at once. */
  maxPendingCalls: number
  /** Largest output of a zlib call, in bytes. */
  maxZlibOutputBytes: number
  /** Longest log message kept, in characters. */
  maxLogChars: number
  /**
   * Log output a plugin context may write per second, in characters (each line also costs
   * {@link LOG_LINE_COST}); lines past it are dropped, with one warning per second.
   */
  maxLogCharsPerSecond: number
}

/** Delivers the reply of an asynchronous host call back into the plugin's context. */
export type DeliverReply = (id: number, replyJson: string) => void

/** The function the plugin-side runtime calls: `(op, id, requestJson)`; returns a reply for synchronous ops. */
export type BridgeFunction = (op: unknown, id: unknown, requestJson: unknown) => string | undefined

type Args = unknown[]
type Reply =
  | { ok: true; value?: unknown }
  | { ok: false; error: { name: string; message: string; retryable?: boolean } }

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'log', 'info', 'warn', 'error']
const URL_PARTS = [
  'href',
  'protocol',
  'username',
  'password',
  'host',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
] as const
type UrlPart = (typeof URL_PARTS)[number]
const ZLIB = { gzip: gzipSync, gunzip: gunzipSync, deflate: deflateSync, inflate: inflateSync } as const
const MAX_RANDOM_BYTES = 65536
const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const
/** What one log line costs against the per-second budget besides its text: entries have overhead. */
const LOG_LINE_COST = 256

class BridgeInputError extends TypeError {}

const text = (value: unknown, what: string): string => {
  if (typeof value !== 'string') throw new BridgeInputError(`${what} must be a string, got ${typeof value}`)
  return value
}
const optionalText = (value: unknown, what: string) => (value === undefined ? undefined : text(value, what))
const bytes = (value: unknown, what: string) => Buffer.from(text(value, what), 'base64')
const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined

function urlParts(url: URL) {
  const parts: Record<string, string> = { origin: url.origin }
  for (const part of URL_PARTS) parts[part] = url[part]
  return parts
}

function parseUrl(input: string, base: string | undefined): URL {
  try {
    return new URL(input, base)
  } catch {
    throw new TypeError(`Invalid URL: ${input.length > 200 ? `${input.slice(0, 200)}…` : input}`)
  }
}

/** `url.parse` of Node's legacy API, derived from the WHATWG parser (relative references allowed). */
function legacyParse(input: string) {
  let url: URL
  let relative = false
  try {
    url = new URL(input)
  } catch {
    url = parseUrl(input, 'http://relative.invalid')
    relative = true
  }
  const auth = url.username
    ? `${decodeURIComponent(url.username)}${url.password ? `:${decodeURIComponent(url.password)}` : ''}`
    : null
  const search = url.search || null
  return {
    protocol: relative ? null : url.protocol,
    slashes: relative ? null : true,
    auth: relative ? null : auth,
    host: relative ? null : url.host,
    port: relative || url.port === '' ? null : url.port,
    hostname: relative ? null : url.hostname,
    hash: url.hash || null,
    search,
    query: search === null ? null : search.slice(1),
    pathname: url.pathname,
    path: `${url.pathname}${url.search}`,
    href: relative ? `${url.pathname}${url.search}${url.hash}` : url.href,
  }
}

function fetchInit(value: unknown) {
  const init = record(value) ?? {}
  const headers: Record<string, string> = {}
  for (const [name, header] of Object.entries(record(init.headers) ?? {})) headers[name] = String(header)
  return {
    ...(init.method === undefined ? {} : { method: text(init.method, 'fetch method') }),
    headers,
    ...(init.body === undefined ? {} : { body: text(init.body, 'fetch body') }),
  }
}

function jobTiming(value: unknown): JobTiming {
  const timing = record(value)
  switch (timing?.kind) {
    case 'now':
      return { kind: 'now' }
    case 'in':
      return { kind: 'in', amount: timing.amount as number, unit: String(timing.unit) }
    case 'at':
      return { kind: 'at', date: timing.date as number | string }
    default:
      throw new BridgeInputError('invalid job timing')
  }
}

function synchronousOps(
  host: PluginHost | null,
  limits: BridgeLimits,
): Record<string, (args: Args) => unknown> {
  const hashAlgorithm = (value: unknown) => {
    const algorithm = text(value, 'hash algorithm').toLowerCase()
    if (!getHashes().includes(algorithm)) throw new Error(`Digest method not supported: ${algorithm}`)
    return algorithm
  }
  // A plugin looping over console.log could otherwise fill the host's log buffers faster than
  // any sink drains them: each second has a budget.
  let logWindowStart = Number.NEGATIVE_INFINITY
  let logCharsInWindow = 0
  return {
    log: ([level, message]) => {
      const lvl = LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'info'
      const line = text(message, 'log message').slice(0, limits.maxLogChars)
      const now = Date.now()
      if (now - logWindowStart >= 1000) {
        logWindowStart = now
        logCharsInWindow = 0
      }
      const budget = limits.maxLogCharsPerSecond
      const before = logCharsInWindow
      logCharsInWindow += line.length + LOG_LINE_COST
      if (logCharsInWindow <= budget) host?.log(lvl, line)
      else if (before <= budget) {
        host?.log(
          'warn',
          `log output over ${budget} characters per second: lines dropped for the rest of this second`,
        )
      }
    },
    'metrics.update': ([name, operation, value]) => {
      if (!host) throw new Error('meta.metrics is not available while the plugin loads')
      if (operation !== 'increment' && operation !== 'max' && operation !== 'min') {
        throw new BridgeInputError('invalid metric operation')
      }
      host.updateMetric(text(name, 'metric name'), operation, value)
    },
    'crypto.hash': ([algorithm, data]) =>
      createHash(hashAlgorithm(algorithm)).update(bytes(data, 'hash data')).digest('base64'),
    'crypto.hmac': ([algorithm, data, key]) =>
      createHmac(hashAlgorithm(algorithm), bytes(key, 'hmac key'))
        .update(bytes(data, 'hmac data'))
        .digest('base64'),
    'crypto.randomBytes': ([size]) => {
      if (!Number.isInteger(size) || (size as number) < 0 || (size as number) > MAX_RANDOM_BYTES) {
        throw new RangeError(`randomBytes size must be an integer from 0 to ${MAX_RANDOM_BYTES}`)
      }
      return randomBytes(size as number).toString('base64')
    },
    'crypto.randomUUID': () => randomUUID(),
    zlib: ([operation, data]) => {
      const run = ZLIB[text(operation, 'zlib operation') as keyof typeof ZLIB]
      if (!run) throw new BridgeInputError('unknown zlib operation')
      try {
        return run(bytes(data, 'zlib data'), { maxOutputLength: limits.maxZlibOutputBytes }).toString(
          'base64',
        )
      } catch (error) {
        if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new RangeError(`zlib output is over the ${limits.maxZlibOutputBytes}-byte limit`)
        }
        throw new Error(`zlib ${String(operation)} failed: ${(error as Error).message}`)
      }
    },
    'url.parse': ([input, base]) => urlParts(parseUrl(text(input, 'URL'), optionalText(base, 'base URL'))),
    'url.set': ([href, part, value]) => {
      const url = parseUrl(text(href, 'URL'), undefined)
      if (!URL_PARTS.includes(part as UrlPart)) throw new BridgeInputError('unknown URL part')
      url[part as UrlPart] = text(value, 'URL part')
      return urlParts(url)
    },
    'url.legacyParse': ([input]) => legacyParse(text(input, 'URL')),
  }
}

function asynchronousOps(host: PluginHost): Record<string, (args: Args) => Promise<unknown>> {
  const key = (value: unknown) => String(value)
  return {
    'cache.set': ([k, value, ttl, options]) =>
      host.cache.set(key(k), value, typeof ttl === 'number' ? ttl : undefined, record(options)),
    'cache.get': ([k, fallback, options]) => host.cache.get(key(k), fallback, record(options)),
    'cache.incr': ([k]) => host.cache.incr(key(k)),
    'cache.expire': ([k, ttl]) => host.cache.expire(key(k), Number(ttl)),
    'cache.lpush': ([k, elements]) => host.cache.lpush(key(k), elements),
    'cache.lrange': ([k, start, stop]) => host.cache.lrange(key(k), Number(start), Number(stop)),
    'cache.llen': ([k]) => host.cache.llen(key(k)),
    'cache.lpop': ([k, count]) => host.cache.lpop(key(k), count === undefined ? 1 : Number(count)),
    'cache.lrem': ([k, count, element]) => host.cache.lrem(key(k), Number(count), String(element)),
    'storage.get': ([k, fallback]) => host.storage.get(key(k), fallback),
    'storage.set': ([k, value]) =>
      value === undefined ? host.storage.del(key(k)) : host.storage.set(key(k), value),
    'storage.del': ([k]) => host.storage.del(key(k)),
    'cursor.init': ([k, initial]) => host.cursor.init(key(k), initial as number | undefined),
    'cursor.increment': ([k, by]) => host.cursor.increment(key(k), by as number | undefined),
    'jobs.enqueue': ([name, payload, timing]) =>
      host.enqueueJob(text(name, 'job name'), payload, jobTiming(timing)),
    'geoip.locate': ([ip]) => host.locateIp(String(ip)),
    fetch: ([url, init]) => host.fetch(text(url, 'fetch URL'), fetchInit(init)),
    'posthog.capture': ([event, properties]) => host.capture(String(event), record(properties)),
    'posthog.api': ([method, path, options]) => {
      if (!HTTP_METHODS.includes(method as (typeof HTTP_METHODS)[number]))
        throw new BridgeInputError('invalid method')
      return host.api(
        method as (typeof HTTP_METHODS)[number],
        text(path, 'posthog.api path'),
        record(options),
      )
    },
  }
}

function errorReply(error: unknown): Reply {
  if (error instanceof SluiceError) {
    return { ok: false, error: { name: error.name, message: error.message, retryable: error.retryable } }
  }
  if (error instanceof BridgeInputError)
    return { ok: false, error: { name: 'TypeError', message: error.message } }
  if (error instanceof Error) {
    const name = ['TypeError', 'RangeError'].includes(error.name) ? error.name : 'Error'
    return { ok: false, error: { name, message: error.message } }
  }
  return { ok: false, error: { name: 'Error', message: describeError(error) } }
}

function decodeArgs(requestJson: string): Args {
  const request = JSON.parse(requestJson) as { args?: unknown; undefinedAt?: unknown }
  if (!Array.isArray(request.args)) throw new BridgeInputError('malformed bridge request')
  const args = request.args
  if (Array.isArray(request.undefinedAt)) {
    for (const index of request.undefinedAt)
      if (Number.isInteger(index) && index >= 0 && index < args.length) args[index] = undefined
  }
  return args
}

/**
 * The host side of the boundary for one plugin context. Only strings cross it: the request is
 * JSON `{args, undefinedAt}`, the reply JSON `{ok, value} | {ok: false, error}`. Synchronous ops
 * (logs, metrics, crypto, zlib, URL parsing) return their reply; the others reply later through
 * `deliver`. `host` is null while a plugin is being probed at load: meta is not available then.
 */
export function createBridge(
  host: PluginHost | null,
  deliver: DeliverReply,
  limits: BridgeLimits,
): BridgeFunction {
  const sync = synchronousOps(host, limits)
  const async = host ? asynchronousOps(host) : {}
  let pending = 0
  return (op, id, requestJson) => {
    if (typeof op !== 'string' || typeof requestJson !== 'string') {
      return JSON.stringify(errorReply(new BridgeInputError('malformed bridge call')))
    }
    const syncOp = Object.hasOwn(sync, op) ? sync[op] : undefined
    if (syncOp) {
      try {
        if (requestJson.length > limits.maxRequestChars)
          throw new RangeError('request too large for the host')
        return JSON.stringify({ ok: true, value: syncOp(decodeArgs(requestJson)) })
      } catch (error) {
        return JSON.stringify(errorReply(error))
      }
    }
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      return JSON.stringify(errorReply(new BridgeInputError('malformed bridge call')))
    }
    const asyncOp = Object.hasOwn(async, op) ? async[op] : undefined
    const start = async (): Promise<Reply> => {
      if (!asyncOp) {
        const what = op.split('.')[0]
        throw new Error(
          host ? `unknown host operation '${op}'` : `${what} is not available while the plugin loads`,
        )
      }
      if (requestJson.length > limits.maxRequestChars) {
        throw new RangeError(`${op} request is over the ${limits.maxRequestChars}-character limit`)
      }
      if (pending >= limits.maxPendingCalls) {
        throw new RangeError(
          `more than ${limits.maxPendingCalls} host calls in flight; await them before starting more`,
        )
      }
      pending += 1
      try {
        const value = await asyncOp(decodeArgs(requestJson))
        return { ok: true, value }
      } finally {
        pending -= 1
      }
    }
    start().then(
      (reply) => deliver(id, stringifyReply(reply)),
      (error) => deliver(id, JSON.stringify(errorReply(error))),
    )
    return undefined
  }
}

function stringifyReply(reply: Reply): string {
  try {
    return JSON.stringify(reply)
  } catch (error) {
    return JSON.stringify(errorReply(error))
  }
}
