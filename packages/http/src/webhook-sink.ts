import { validateHeaderName, validateHeaderValue } from 'node:http'
import type { Sink } from '@sluice/core'
import { createHttpSink, type HttpSinkCommonOptions, invalidSinkOption, parseSinkUrl } from './http-sink.js'

/** Options of {@link createWebhookSink}. */
export interface WebhookSinkOptions extends HttpSinkCommonOptions {
  /** Where the events are POSTed. Its path and query may hold a secret: neither is ever shown. */
  url: string
  /**
   * Extra request headers, e.g. `authorization`. Their values are never logged or shown in errors.
   * `content-type` defaults to `application/json`.
   * @example { authorization: 'Bearer s3cr3t' }
   */
  headers?: Readonly<Record<string, string>>
}

const COMPONENT = 'webhook'

/**
 * Creates a sink that POSTs processed events, as a JSON array, to a URL. A write is cut into
 * requests of at most `maxEventsPerRequest` events and about `maxBytesPerRequest` bytes, sent one
 * after another, and resolves once each got a 2xx. A timeout, a network error, 408, 429 or 5xx
 * rejects with a retryable `SinkError`; another 4xx rejects with a non-retryable one carrying the
 * response's reason. Errors and the name (`webhook:<origin>`) never show the URL's path or query,
 * nor header values. Requests may reach private networks by default (see `allowPrivateNetworks`).
 * @example
 * const sink = createWebhookSink({ url: 'https://hooks.example.com/events', headers: { authorization: 'Bearer …' } })
 * await sink.write(events)
 */
export function createWebhookSink(options: WebhookSinkOptions): Sink {
  const url = parseSinkUrl(options?.url, 'url', COMPONENT)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  for (const [header, value] of Object.entries(options.headers ?? {})) {
    try {
      validateHeaderName(header)
      validateHeaderValue(header, value)
    } catch {
      // Node's message would quote the value, which may be a secret.
      throw invalidSinkOption(
        COMPONENT,
        `headers['${header.slice(0, 100)}'] is not a valid HTTP header (names are tokens, values a string of visible characters)`,
      )
    }
    headers[header.toLowerCase()] = value
  }
  return createHttpSink(
    {
      name: options.name ?? `webhook:${url.origin}`,
      component: COMPONENT,
      url,
      shownTarget: url.origin,
      headers,
      secrets: [
        ...Object.values(options.headers ?? {}),
        url.password,
        safeDecode(url.password),
        url.pathname === '/' ? '' : url.pathname,
        url.search.slice(1),
      ],
      toPayload: (event) => event,
      encodeBody: async (events) => Buffer.from(`[${events.join(',')}]`, 'utf8'),
      refusalHint: (status) =>
        status === 401 || status === 403
          ? "check the sink's headers (credentials)"
          : status === 413
            ? 'lower maxEventsPerRequest or maxBytesPerRequest'
            : 'the webhook did not accept these events',
    },
    options,
  )
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
