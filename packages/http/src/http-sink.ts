import type { ProcessedPluginEvent, Sink } from '@sluice/core'
import { FetchError, SinkError } from '@sluice/core'
import { createHttpFetch } from './http-fetch.js'

/** Options every HTTP sink shares. */
export interface HttpSinkCommonOptions {
  /**
   * Name in logs and metrics; it must not hold secrets.
   * @default `posthog:<host>` or `webhook:<origin>`
   */
  name?: string
  /**
   * Most events sent in one request; a larger write goes out as several requests, one after
   * another, in order.
   * @default 500
   */
  maxEventsPerRequest?: number
  /**
   * Most bytes of event JSON (before any compression) in one request. An event larger than this
   * goes alone in its request.
   * @default 5242880 (5 MiB)
   */
  maxBytesPerRequest?: number
  /**
   * Time allowed for each request: DNS, connecting, sending and reading the response.
   * @default 10000
   */
  timeoutMs?: number
  /**
   * Lets requests reach loopback, private, link-local and reserved addresses. On by default for
   * sinks, unlike plugin `fetch`: the target is chosen by the operator, not by plugin code, so the
   * SSRF guard protects nothing here, and a self-hosted PostHog or an internal webhook usually
   * lives on a private network. Cloud metadata endpoints stay refused either way.
   * @default true
   */
  allowPrivateNetworks?: boolean
}

/** What a concrete HTTP sink tells the shared delivery loop. */
export interface HttpSinkSettings {
  name: string
  /** `[sluice:<component>]` in error messages. */
  component: string
  /** Where every request goes (already checked to be an http: or https: URL). */
  url: URL
  /** How errors show the URL: replaces `<origin><path>` of `url`, whose path may hold a secret. */
  shownTarget: string
  headers: Readonly<Record<string, string>>
  /** Values never shown in an error message (API keys, header values). */
  secrets: readonly string[]
  /** The JSON an event is sent as. */
  toPayload(event: ProcessedPluginEvent): unknown
  /** The request body holding the JSON of one request's events. */
  encodeBody(events: readonly string[]): Promise<Uint8Array>
  /** What to check when the target refuses the events (a 4xx other than 408 and 429). */
  refusalHint(status: number): string
}

const DEFAULT_MAX_EVENTS = 500
const DEFAULT_MAX_BYTES = 5 * 1024 * 1024
const DEFAULT_TIMEOUT_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1
const MAX_REASON_CHARS = 300

/** Resolves the shared options, throwing a non-retryable SinkError naming the bad one. */
export function resolveCommonOptions(
  options: HttpSinkCommonOptions,
  component: string,
): Required<Omit<HttpSinkCommonOptions, 'name'>> {
  const positive = (value: number | undefined, fallback: number, option: string, max: number) => {
    if (value === undefined) return fallback
    if (Number.isInteger(value) && value > 0 && value <= max) return value
    throw invalidSinkOption(component, `${option} must be a whole number from 1 to ${max}, not ${value}`)
  }
  return {
    maxEventsPerRequest: positive(
      options.maxEventsPerRequest,
      DEFAULT_MAX_EVENTS,
      'maxEventsPerRequest',
      1e6,
    ),
    maxBytesPerRequest: positive(
      options.maxBytesPerRequest,
      DEFAULT_MAX_BYTES,
      'maxBytesPerRequest',
      Number.MAX_SAFE_INTEGER,
    ),
    timeoutMs: positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs', MAX_TIMER_MS),
    allowPrivateNetworks: options.allowPrivateNetworks ?? true,
  }
}

/** A configuration mistake, found when the sink is created. */
export function invalidSinkOption(component: string, message: string): SinkError {
  return new SinkError(`${message} — fix the sink's configuration`, {
    retryable: false,
    code: 'sink.invalid',
    component,
  })
}

/**
 * Parses the sink's target URL. The URL is never echoed: its path or query may hold a secret.
 * @param option the option's name, for the message
 */
export function parseSinkUrl(value: unknown, option: string, component: string): URL {
  let url: URL | undefined
  try {
    if (typeof value === 'string') url = new URL(value)
  } catch {
    url = undefined
  }
  if (!url) throw invalidSinkOption(component, `${option} is not a valid absolute URL`)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidSinkOption(component, `${option} must be an http: or https: URL, not ${url.protocol}`)
  }
  return url
}

/**
 * Creates a sink that POSTs events to `settings.url`: each write is cut into requests of at most
 * `maxEventsPerRequest` events and `maxBytesPerRequest` bytes, sent one after another (so the
 * target sees them in order), and resolves once every request got a 2xx. Writes are serialized
 * too: a write starts only after the previous one settled.
 */
export function createHttpSink(settings: HttpSinkSettings, options: HttpSinkCommonOptions): Sink {
  const { name, component } = settings
  const limits = resolveCommonOptions(options, component)
  const fetch = createHttpFetch({
    allowPrivateNetworks: limits.allowPrivateNetworks,
    timeoutMs: limits.timeoutMs,
    maxTimeoutMs: limits.timeoutMs,
    // A 301/302 turns a POST into a GET without the body, which could then answer 200 for events
    // that were never delivered; the operator must configure the final URL instead.
    maxRedirects: 0,
  })
  const redact = createRedactor(settings)
  let closed = false
  let tail: Promise<unknown> = Promise.resolve()

  const sinkError = (message: string, retryable: boolean, code: string) =>
    new SinkError(redact(`${name}: ${message}`), { retryable, code, component })

  const serialize = (events: readonly ProcessedPluginEvent[]): string[] =>
    events.map((event, index) => {
      let json: string | undefined
      try {
        json = JSON.stringify(settings.toPayload(event))
      } catch (error) {
        throw sinkError(
          `event ${index} cannot be sent: it is not JSON data (${error instanceof Error ? error.message : String(error)})`,
          false,
          'sink.invalid',
        )
      }
      if (json === undefined)
        throw sinkError(`event ${index} cannot be sent: it is not an object`, false, 'sink.invalid')
      return json
    })

  const send = async (chunk: readonly string[], first: number, total: number): Promise<void> => {
    const which =
      total === chunk.length
        ? `${total} event${total === 1 ? '' : 's'}`
        : `events ${first + 1}–${first + chunk.length} of ${total}`
    let status: number
    let response: Awaited<ReturnType<typeof fetch.request>>
    try {
      response = await fetch.request({
        url: settings.url.href,
        method: 'POST',
        headers: settings.headers,
        body: await settings.encodeBody(chunk),
      })
      status = response.status
    } catch (error) {
      if (error instanceof FetchError && error.code === 'fetch.too_many_redirects') {
        throw sinkError(
          `sending ${which} was answered with a redirect — configure the URL it redirects to`,
          false,
          'sink.redirected',
        )
      }
      const retryable = error instanceof FetchError ? error.retryable : true
      const detail = error instanceof Error ? error.message : String(error)
      throw sinkError(`sending ${which} failed: ${detail}`, retryable, 'sink.unavailable')
    }
    if (status >= 200 && status < 300) return
    const answered = `${settings.shownTarget} answered ${status}${response.statusText ? ` ${response.statusText}` : ''}`
    const reason = responseReason(response.body)
    const because = reason ? `: ${reason}` : ''
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfter = response.headers['retry-after']
      const wait = retryAfter ? ` (Retry-After: ${retryAfter.slice(0, 40)})` : ''
      throw sinkError(
        `sending ${which} failed: ${answered}${because}${wait} — the events will be sent again`,
        true,
        'sink.unavailable',
      )
    }
    const hint = status >= 400 && status < 500 ? settings.refusalHint(status) : 'expected a 2xx answer'
    throw sinkError(`${answered} to ${which}${because} — ${hint}`, false, 'sink.refused')
  }

  const deliver = async (events: readonly ProcessedPluginEvent[]): Promise<void> => {
    const serialized = serialize(events)
    let first = 0
    for (const chunk of splitRequests(serialized, limits.maxEventsPerRequest, limits.maxBytesPerRequest)) {
      await send(chunk, first, serialized.length)
      first += chunk.length
    }
  }

  return {
    name,

    write(events) {
      if (closed) {
        return Promise.reject(
          sinkError('cannot write: the sink was closed — create a new one', false, 'sink.closed'),
        )
      }
      if (events.length === 0) return Promise.resolve()
      const written = tail.then(() => deliver(events))
      tail = written.catch(() => undefined)
      return written
    },

    async close() {
      closed = true
      await tail
    },
  }
}

/**
 * Cuts serialized events into requests of at most `maxEvents` events and about `maxBytes` bytes
 * (JSON plus separators); an event larger than `maxBytes` goes alone.
 */
function* splitRequests(events: readonly string[], maxEvents: number, maxBytes: number): Generator<string[]> {
  let chunk: string[] = []
  let bytes = 0
  for (const event of events) {
    const size = Buffer.byteLength(event, 'utf8') + 1
    if (chunk.length > 0 && (chunk.length === maxEvents || bytes + size > maxBytes)) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(event)
    bytes += size
  }
  if (chunk.length > 0) yield chunk
}

/** The most useful short text of an error response: a JSON `detail`/`message`/`error`, else the body. */
function responseReason(body: Uint8Array): string {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8').trim()
  let reason = text
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null) {
      const fields = parsed as Record<string, unknown>
      const found = [fields.detail, fields.message, fields.error].find((value) => typeof value === 'string')
      if (typeof found === 'string') reason = found
    }
  } catch {
    // Not JSON: the text itself is the reason.
  }
  reason = reason.replace(/\s+/g, ' ')
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason
}

/**
 * Makes a message safe to show: the target URL's path becomes `shownTarget`, and every secret,
 * and each longer word of it (the token in `Bearer <token>`, a segment of a secret path), becomes
 * `***`.
 */
function createRedactor(settings: HttpSinkSettings): (message: string) => string {
  const { url, shownTarget } = settings
  const fullTarget = `${url.origin}${url.pathname}`
  const hidden = new Set<string>()
  for (const secret of settings.secrets) {
    if (secret.length >= 4) hidden.add(secret)
    for (const word of secret.split(/[\s/?&=]+/)) if (word.length >= 8) hidden.add(word)
  }
  // Longest first, so a whole value is replaced before any of its words.
  const ordered = [...hidden].sort((a, b) => b.length - a.length)
  return (message) => {
    let safe = message.split(fullTarget).join(shownTarget)
    for (const secret of ordered) safe = safe.split(secret).join('***')
    return safe
  }
}
