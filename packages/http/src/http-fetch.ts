import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { type Fetch, FetchError, type FetchRequest, type FetchResponse } from '@sluice/core'
import { describeTarget, mapRequestError } from './fetch-errors.js'
import { createTargetGuard, type DnsLookup, parseTarget } from './target-guard.js'

/** Options of {@link createHttpFetch}. */
export interface HttpFetchOptions {
  /**
   * Lets requests reach loopback, private, link-local and reserved addresses (for development
   * and tests, or a server that must call services on its own network). Cloud metadata endpoints
   * stay refused; name them in `allowedHosts` to reach them.
   * @default false
   */
  allowPrivateNetworks?: boolean
  /**
   * Host names (`hooks.internal`) and IP addresses (`10.0.0.5`, `::1`) requests may reach even
   * though they are, or resolve to, private or metadata addresses. Exact matches only: no
   * wildcards, schemes, ports or paths. An allowed name lets through every address it resolves to.
   * @default []
   */
  allowedHosts?: readonly string[]
  /**
   * Time allowed for a whole request — DNS, connecting, every redirect and reading the body —
   * unless the request sets its own `timeoutMs`.
   * @default 10000, or `maxTimeoutMs` if that is lower
   */
  timeoutMs?: number
  /**
   * Upper bound on a request's own `timeoutMs`.
   * @default 60000
   */
  maxTimeoutMs?: number
  /**
   * Largest response body accepted, in bytes; a longer one is aborted as it arrives.
   * @default 5242880 (5 MiB)
   */
  maxResponseBytes?: number
  /**
   * Redirects followed per request (301, 302, 303, 307, 308); one more is an error.
   * @default 5
   */
  maxRedirects?: number
  /**
   * Resolves host names; every answer is checked and the connection pinned to the checked
   * addresses.
   * @default dns.lookup
   */
  lookup?: DnsLookup
}

/** setTimeout fires at once for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])

/** Framing and connection management belong to this client: a caller's value could desync the connection. */
const CLIENT_OWNED_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
])

/** Headers describing a request body, dropped with it when a redirect switches to GET (Fetch standard). */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location']

/** Credentials and routing meant for one origin, never forwarded to another. */
const ORIGIN_BOUND_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'cookie2', 'host']

interface Hop {
  url: URL
  method: string
  headers: Record<string, string>
  body: Uint8Array | undefined
  addresses: LookupAddress[]
}

type Outcome =
  | { kind: 'response'; response: FetchResponse }
  | { kind: 'redirect'; location: string; status: number }

/**
 * Creates the {@link Fetch} port over `node:http` and `node:https`, with an SSRF guard: only
 * `http:`/`https:` URLs; the host is resolved once and refused if any address is loopback,
 * private, link-local, reserved or a cloud metadata endpoint; the connection goes to exactly the
 * checked addresses. Redirects are followed by hand and checked the same way at every hop.
 * Failures reject with a `FetchError` whose `retryable` says whether to try again.
 * @example
 * const fetch = createHttpFetch({ allowedHosts: ['hooks.internal'] })
 * const response = await fetch.request({ url: 'https://example.com/api', method: 'POST', body: '{}' })
 */
export function createHttpFetch(options: HttpFetchOptions = {}): Fetch {
  const maxTimeoutMs = positiveOption(options.maxTimeoutMs, 60_000, 'maxTimeoutMs', MAX_TIMER_MS)
  const timeoutMs = positiveOption(
    options.timeoutMs,
    Math.min(10_000, maxTimeoutMs),
    'timeoutMs',
    MAX_TIMER_MS,
  )
  const maxResponseBytes = positiveOption(
    options.maxResponseBytes,
    5 * 1024 * 1024,
    'maxResponseBytes',
    Number.MAX_SAFE_INTEGER,
  )
  const maxRedirects = options.maxRedirects ?? 5
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw invalidOption(`maxRedirects must be a whole number ≥ 0, not ${maxRedirects}`)
  }
  if (timeoutMs > maxTimeoutMs) {
    throw invalidOption(`timeoutMs (${timeoutMs}) is above maxTimeoutMs (${maxTimeoutMs})`)
  }
  const guard = createTargetGuard({
    allowPrivateNetworks: options.allowPrivateNetworks ?? false,
    allowedHosts: options.allowedHosts ?? [],
    lookup: options.lookup ?? dnsLookup,
  })
  // Connection pools of this instance only, so a kept-alive socket is reused under the policy that
  // checked its address. Idle sockets close after 5 s, as on Node's global agent. An empty proxyEnv
  // keeps out HTTP_PROXY even when Node is told to use it: a proxy would resolve the name itself
  // and undo the pinning.
  const agentOptions = { keepAlive: true, timeout: 5_000, proxyEnv: {} }
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) }

  return {
    async request(request: FetchRequest): Promise<FetchResponse> {
      let url = parseTarget(request.url)
      let method = String(request.method ?? 'GET').toUpperCase()
      const target = describeTarget(method, url)
      const limitMs = Math.min(requestTimeout(request.timeoutMs, timeoutMs, target), maxTimeoutMs)
      let headers = withUrlCredentials(callerHeaders(request.headers), url)
      let body = encodeBody(request.body, target)

      const deadline = new AbortController()
      const timer = setTimeout(() => {
        const error = new FetchError(`${target} did not complete within ${limitMs} ms`, {
          retryable: true,
          code: 'fetch.timeout',
        })
        deadline.abort(error)
      }, limitMs)
      try {
        for (let redirects = 0; ; redirects++) {
          const hopTarget = describeTarget(method, url)
          const addresses = await guard(url, hopTarget, deadline.signal)
          const hop = { url, method, headers, body, addresses }
          const outcome = await send(hop, hopTarget, agents[url.protocol as 'http:' | 'https:'], {
            maxResponseBytes,
            signal: deadline.signal,
          })
          if (outcome.kind === 'response') return outcome.response
          if (redirects === maxRedirects) {
            throw new FetchError(`${target}: more than ${maxRedirects} redirects (maxRedirects)`, {
              retryable: false,
              code: 'fetch.too_many_redirects',
            })
          }
          const next = parseTarget(outcome.location, { url, target: hopTarget })
          // 303 always, and 301/302 after a POST (as browsers do), continue as a GET without the body.
          if (
            (outcome.status === 303 && method !== 'GET' && method !== 'HEAD') ||
            ((outcome.status === 301 || outcome.status === 302) && method === 'POST')
          ) {
            method = 'GET'
            body = undefined
            headers = without(headers, BODY_HEADERS)
          }
          if (next.origin !== url.origin) headers = without(headers, ORIGIN_BOUND_HEADERS)
          headers = withUrlCredentials(headers, next)
          url = next
        }
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

function send(
  hop: Hop,
  target: string,
  agent: http.Agent,
  limits: { maxResponseBytes: number; signal: AbortSignal },
): Promise<Outcome> {
  const { url, method, body } = hop
  const { maxResponseBytes, signal } = limits
  return new Promise((resolve, reject) => {
    let settled = false
    let request: http.ClientRequest | undefined
    const settle = () => {
      settled = true
      signal.removeEventListener('abort', onAbort)
    }
    const fail = (error: unknown) => {
      if (settled) return
      settle()
      request?.destroy()
      reject(mapRequestError(error, target))
    }
    const succeed = (outcome: Outcome) => {
      if (settled) return
      settle()
      resolve(outcome)
    }
    const onAbort = () => fail(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })

    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const headers: Record<string, string> = { ...hop.headers }
    if (body) headers['content-length'] = String(body.byteLength)
    let responded = false
    try {
      request = (url.protocol === 'https:' ? https : http).request({
        protocol: url.protocol,
        hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        agent,
        lookup: pinnedLookup(hop.addresses),
        // SNI and certificate checks use the URL's host, never a caller's Host header.
        ...(url.protocol === 'https:'
          ? { servername: isIP(hostname) ? '' : hostname.replace(/\.$/, '') }
          : {}),
      })
    } catch (error) {
      return fail(error)
    }

    // Listeners stay attached after settling, so late errors from a destroyed socket are absorbed.
    request.on('error', fail)
    request.on('close', () => {
      if (!responded) fail(connectionClosed(target, 'before a response arrived'))
    })
    request.on('response', (response) => {
      responded = true
      response.on('error', fail)
      response.on('close', () => {
        if (!response.complete) fail(connectionClosed(target, 'before the response body was complete'))
      })
      const status = response.statusCode ?? 0
      const headers = responseHeaders(response.rawHeaders)
      const location = headers.location
      if (REDIRECT_STATUSES.has(status) && location !== undefined) {
        succeed({ kind: 'redirect', location, status })
        response.destroy()
        return
      }
      const tooLarge = () =>
        new FetchError(
          `${target}: the response is larger than ${maxResponseBytes} bytes (maxResponseBytes)`,
          {
            retryable: false,
            code: 'fetch.response_too_large',
          },
        )
      // HEAD and 304 responses may declare the length of a body they do not carry.
      const hasBody = method !== 'HEAD' && status !== 204 && status !== 304
      if (hasBody && Number(headers['content-length']) > maxResponseBytes) return fail(tooLarge())
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.byteLength
        if (size > maxResponseBytes) return fail(tooLarge())
        chunks.push(chunk)
      })
      response.on('end', () => {
        succeed({
          kind: 'response',
          response: { status, statusText: response.statusMessage ?? '', headers, body: concat(chunks, size) },
        })
      })
    })
    request.end(body)
  })
}

/**
 * Hands the connection the addresses the guard checked, so it cannot resolve the name again and
 * get another answer. No `family` is set on the request, so every checked address is eligible.
 */
function pinnedLookup(addresses: readonly LookupAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const [first] = addresses
    if (options.all || !first) callback(null, [...addresses])
    else callback(null, first.address, first.family)
  }
}

/** Header names lower-cased; repeated headers joined with ', ' (as WHATWG `Headers.get` does). */
function responseHeaders(raw: readonly string[]): Record<string, string> {
  const joined = new Map<string, string>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = raw[i + 1] as string
    const previous = joined.get(name)
    joined.set(name, previous === undefined ? value : `${previous}, ${value}`)
  }
  // fromEntries defines own properties, so a header named __proto__ cannot reach the prototype.
  return Object.fromEntries(joined)
}

/** A fresh buffer: Node's small chunks share a pooled ArrayBuffer that must not leak to callers. */
function concat(chunks: readonly Buffer[], size: number): Uint8Array {
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return body
}

function callerHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    const key = name.toLowerCase()
    if (!CLIENT_OWNED_HEADERS.has(key)) result[key] = value
  }
  return result
}

/** `https://user:pass@host/` sends Basic credentials, as node-fetch 2 did, unless a header is set. */
function withUrlCredentials(headers: Record<string, string>, url: URL): Record<string, string> {
  if ((url.username === '' && url.password === '') || headers.authorization !== undefined) return headers
  const credentials = `${percentDecode(url.username)}:${percentDecode(url.password)}`
  return { ...headers, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function without(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)))
}

function encodeBody(body: FetchRequest['body'], target: string): Uint8Array | undefined {
  if (body === undefined) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  throw new FetchError(`${target}: the body must be a string or a Uint8Array`, {
    retryable: false,
    code: 'fetch.invalid_request',
  })
}

function requestTimeout(requested: number | undefined, fallback: number, target: string): number {
  if (requested === undefined) return fallback
  if (typeof requested === 'number' && Number.isFinite(requested) && requested > 0) return requested
  throw new FetchError(`${target}: timeoutMs must be a positive number of milliseconds, not ${requested}`, {
    retryable: false,
    code: 'fetch.invalid_request',
  })
}

function connectionClosed(target: string, when: string): FetchError {
  return new FetchError(`${target}: the connection closed ${when}`, {
    retryable: true,
    code: 'fetch.connection_failed',
  })
}

function positiveOption(value: number | undefined, fallback: number, name: string, max: number): number {
  if (value === undefined) return fallback
  if (typeof value === 'number' && value > 0 && value <= max) return value
  throw invalidOption(`${name} must be a positive number up to ${max}, not ${value}`)
}

function invalidOption(message: string): FetchError {
  return new FetchError(message, { retryable: false, code: 'fetch.invalid_option' })
}
