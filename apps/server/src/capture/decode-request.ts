import { gunzipSync } from 'node:zlib'
import LZString from 'lz-string'

/** A capture request as the HTTP layer hands it over: the body already read (and size-capped). */
export interface CaptureRequest {
  method: string
  /** The request path without the query, e.g. `/batch/`. */
  path: string
  query: URLSearchParams
  /** Lower-case names. */
  headers: Readonly<Record<string, string | undefined>>
  body: Uint8Array
}

/** One event as an SDK sent it, checked and with its project token resolved. */
export interface CapturedEvent {
  /** The project API key the event was sent with. */
  token: string
  event: string
  distinct_id: string
  properties: Record<string, unknown>
  /** The SDK's uuid for the event, when it sent a usable one. */
  uuid?: string
  timestamp?: string
  /** Milliseconds before `sent_at` the event happened (older SDKs send this instead of a timestamp). */
  offset?: number
  sent_at?: string
  $set?: Record<string, unknown>
  $set_once?: Record<string, unknown>
}

/** Why a capture request was refused: an HTTP status and a reason the sender can act on. */
export interface CaptureRejection {
  ok: false
  status: 400 | 401 | 413
  reason: string
}

/** The outcome of decoding one capture request. */
export type DecodedCapture = { ok: true; events: CapturedEvent[] } | CaptureRejection

/** Limits of {@link decodeCaptureRequest}. */
export interface DecodeLimits {
  /**
   * The largest body after decompression and base64 decoding, in bytes.
   * @default 20 MiB
   */
  maxDecodedBytes?: number
}

const DEFAULT_MAX_DECODED_BYTES = 20 * 1024 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

class Rejected extends Error {
  constructor(
    readonly status: CaptureRejection['status'],
    message: string,
  ) {
    super(message)
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value !== ''

/**
 * Decodes a request to the PostHog capture endpoints (`/capture`, `/e`, `/track`, `/batch`,
 * `/i/v0/e`, `/engage`) the way PostHog SDKs send them: JSON; gzip bodies (the
 * `Content-Encoding: gzip` header, posthog-js' `?compression=gzip-js`, or just the gzip magic
 * bytes); the `data=` form, base64 or lz-string (`lz64`) encoded, in the body or the query (GET).
 * Payloads are one event, an array of events, or `{ batch: [...] }`; the project token comes
 * from the event, the payload (`api_key`/`token`) or the query. Any invalid event refuses the whole
 * request, so a sender never has to guess which of its events were queued.
 */
export function decodeCaptureRequest(request: CaptureRequest, limits: DecodeLimits = {}): DecodedCapture {
  const maxBytes = limits.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES
  try {
    const payload = parsePayload(request, maxBytes)
    return { ok: true, events: toEvents(payload, request) }
  } catch (error) {
    if (error instanceof Rejected) return { ok: false, status: error.status, reason: error.message }
    throw error
  }
}

/** Whether the request (or its query) asks for a compression; `gzip-js` is posthog-js' name for gzip. */
function compressionOf(request: CaptureRequest, form?: URLSearchParams): string {
  return (form?.get('compression') ?? request.query.get('compression') ?? '').toLowerCase()
}

function parsePayload(request: CaptureRequest, maxBytes: number): unknown {
  let body = request.body
  const encoding = (request.headers['content-encoding'] ?? '').toLowerCase()
  const gzipped =
    encoding === 'gzip' ||
    compressionOf(request) === 'gzip-js' ||
    compressionOf(request) === 'gzip' ||
    (body[0] === 0x1f && body[1] === 0x8b)
  if (gzipped && body.length > 0) body = gunzip(body, maxBytes)
  else if (encoding !== '' && encoding !== 'identity') {
    throw new Rejected(
      400,
      `unsupported Content-Encoding '${encoding}': send the body plain or gzip-compressed`,
    )
  }
  if (body.length > maxBytes) throw tooLarge(maxBytes)

  const text = new TextDecoder().decode(body).trim()
  const contentType = (request.headers['content-type'] ?? '').toLowerCase()
  const formBody = contentType.startsWith('application/x-www-form-urlencoded') || text.startsWith('data=')
  if (formBody) {
    const form = new URLSearchParams(text)
    return decodeData(form.get('data'), compressionOf(request, form), maxBytes)
  }
  if (text === '') {
    // A GET (or an empty POST) carries the payload in the query, as browser beacons do.
    return decodeData(request.query.get('data'), compressionOf(request), maxBytes)
  }
  return parseJson(text)
}

function gunzip(body: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes })
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes)
    throw new Rejected(
      400,
      `the body is not valid gzip (${(error as Error).message}): compress it again, or send it plain`,
    )
  }
}

const tooLarge = (maxBytes: number) =>
  new Rejected(413, `the decoded body is over ${maxBytes} bytes: send the events in smaller batches`)

/** Decodes a `data` field: JSON text, base64 of JSON, or lz-string base64 (`compression=lz64`). */
function decodeData(data: string | null, compression: string, maxBytes: number): unknown {
  if (data === null || data.trim() === '') {
    throw new Rejected(400, 'the request has no events: send JSON in the body, or a data= field')
  }
  const value = data.trim()
  if (value.startsWith('{') || value.startsWith('[')) return parseJson(value)
  let text: string
  if (compression === 'lz64') {
    text = LZString.decompressFromBase64(value) ?? ''
    if (text === '') throw new Rejected(400, 'data= is not valid lz64 (lz-string base64) text')
  } else {
    // Form decoding turns an unescaped '+' of base64 into a space; put it back.
    const bytes = Buffer.from(value.replaceAll(' ', '+'), 'base64')
    if (bytes.length > maxBytes) throw tooLarge(maxBytes)
    text = bytes.toString('utf8')
  }
  return parseJson(text)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new Rejected(400, `the body is not valid JSON (${(error as Error).message})`)
  }
}

/** The events of a payload, each with its token, or a rejection naming every problem found. */
function toEvents(payload: unknown, request: CaptureRequest): CapturedEvent[] {
  let items: unknown[]
  let envelope: Record<string, unknown> = {}
  if (Array.isArray(payload)) items = payload
  else if (isObject(payload) && Array.isArray(payload.batch)) {
    items = payload.batch
    envelope = payload
  } else if (isObject(payload)) items = [payload]
  else
    throw new Rejected(400, 'the payload must be an event object, an array of events or { "batch": [...] }')
  if (items.length === 0) throw new Rejected(400, 'the request has no events')

  const engage = /^\/engage\/?$/.test(request.path)
  const queryToken = request.query.get('token') ?? request.query.get('api_key')
  const envelopeToken = tokenOf(envelope) ?? queryToken
  const sentAt = nonEmptyString(envelope.sent_at) ? envelope.sent_at : undefined
  const problems: string[] = []
  const events: CapturedEvent[] = []
  items.forEach((item, index) => {
    const where = items.length === 1 ? 'the event' : `event ${index}`
    if (!isObject(item)) {
      problems.push(`${where} is not a JSON object`)
      return
    }
    const properties = isObject(item.properties) ? { ...item.properties } : {}
    const token = tokenOf(item) ?? tokenOf(properties) ?? envelopeToken
    if (token === undefined || token === null) {
      throw new Rejected(
        401,
        'no project API key: send it as "api_key" (or "token") in the body, or as ?token= in the query',
      )
    }
    const name = engage && item.event === undefined ? '$identify' : item.event
    if (!nonEmptyString(name)) problems.push(`${where}: "event" must be a non-empty string`)
    const distinctId =
      item.distinct_id ?? item.$distinct_id ?? properties.distinct_id ?? properties.$distinct_id
    if (!(nonEmptyString(distinctId) || (typeof distinctId === 'number' && Number.isFinite(distinctId)))) {
      problems.push(`${where}: "distinct_id" must be a non-empty string or a number`)
    }
    if (!nonEmptyString(name) || distinctId === undefined) return
    const event: CapturedEvent = { token, event: name, distinct_id: String(distinctId), properties }
    if (nonEmptyString(item.uuid) && UUID.test(item.uuid)) event.uuid = item.uuid.toLowerCase()
    if (nonEmptyString(item.timestamp)) event.timestamp = item.timestamp
    if (typeof item.offset === 'number' && Number.isFinite(item.offset)) event.offset = item.offset
    const eventSentAt = nonEmptyString(item.sent_at) ? item.sent_at : sentAt
    if (eventSentAt !== undefined) event.sent_at = eventSentAt
    const $set = isObject(item.$set) ? item.$set : isObject(properties.$set) ? properties.$set : undefined
    if ($set) event.$set = $set
    const $setOnce = isObject(item.$set_once)
      ? item.$set_once
      : isObject(properties.$set_once)
        ? properties.$set_once
        : undefined
    if ($setOnce) event.$set_once = $setOnce
    events.push(event)
  })
  if (problems.length > 0) throw new Rejected(400, `nothing was queued: ${problems.join('; ')}`)
  return events
}

function tokenOf(source: Record<string, unknown>): string | undefined {
  const token = source.api_key ?? source.token
  return nonEmptyString(token) ? token : undefined
}
