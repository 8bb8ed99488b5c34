import { describeError, type PluginEvent, type QueueRecord, type QueueTransport } from '@sluice/core'
import { HttpError, type HttpRequest, type HttpResponse, type Route } from '../http/types.js'
import { type CapturedEvent, decodeCaptureRequest } from './decode-request.js'

/** The capture endpoints PostHog SDKs call (SPEC §5). */
export const CAPTURE_PATHS = ['/capture', '/e', '/track', '/batch', '/i/v0/e', '/engage'] as const

/** Counts the capture endpoints keep for `/metrics`. */
export interface CaptureCounters {
  requests: number
  rejected: number
  eventsAccepted: number
}

/** What the capture endpoints need. */
export interface CaptureRoutesOptions {
  queue: QueueTransport
  ingestionTopic: string
  now: () => number
  newUuid: () => string
  /** The team of a project token, or null when the token is not accepted. */
  teamOf(token: string): number | null
  counters: CaptureCounters
}

const toPluginEvent = (
  captured: CapturedEvent,
  teamId: number,
  receivedAt: string,
  ip: string | null,
  newUuid: () => string,
): PluginEvent => {
  const event: PluginEvent = {
    uuid: captured.uuid ?? newUuid(),
    distinct_id: captured.distinct_id,
    ip: typeof captured.properties.$ip === 'string' ? captured.properties.$ip : ip,
    site_url: '',
    team_id: teamId,
    now: receivedAt,
    event: captured.event,
    properties: captured.properties,
  }
  if (captured.timestamp !== undefined) event.timestamp = captured.timestamp
  if (captured.offset !== undefined) event.offset = captured.offset
  if (captured.sent_at !== undefined) event.sent_at = captured.sent_at
  if (captured.$set !== undefined) event.$set = captured.$set
  if (captured.$set_once !== undefined) event.$set_once = captured.$set_once
  return event
}

/**
 * `POST`/`GET` on every capture path: decode the SDK's request, give each event a uuid and its
 * team, queue them keyed `team:distinct_id`, and answer `{"status":1}` only once the queue has
 * them. A queue failure answers 503 so the SDK retries; nothing is acknowledged that was not queued.
 */
export function createCaptureRoutes(options: CaptureRoutesOptions): Route[] {
  const { counters } = options
  const handle = async (request: HttpRequest): Promise<HttpResponse> => {
    counters.requests += 1
    let body: Buffer
    try {
      body = request.method === 'GET' ? Buffer.alloc(0) : await request.body()
    } catch (error) {
      counters.rejected += 1
      throw error
    }
    const headers: Record<string, string | undefined> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value
    }
    const decoded = decodeCaptureRequest({
      method: request.method,
      path: request.url.pathname,
      query: request.url.searchParams,
      headers,
      body,
    })
    if (!decoded.ok) {
      counters.rejected += 1
      throw new HttpError(decoded.status, decoded.reason)
    }
    const receivedAt = new Date(options.now()).toISOString()
    const records: QueueRecord[] = []
    for (const captured of decoded.events) {
      const teamId = options.teamOf(captured.token)
      if (teamId === null) {
        counters.rejected += 1
        throw new HttpError(
          401,
          `the project token ${captured.token.slice(0, 6)}… is not accepted here: use a token listed in SLUICE_PROJECT_TOKENS`,
        )
      }
      const event = toPluginEvent(captured, teamId, receivedAt, request.remoteAddress, options.newUuid)
      records.push({ key: `${teamId}:${event.distinct_id}`, value: JSON.stringify(event) })
    }
    try {
      await options.queue.produce(options.ingestionTopic, records)
    } catch (error) {
      counters.rejected += 1
      throw new HttpError(503, `the events could not be queued (${describeError(error)}); send them again`)
    }
    counters.eventsAccepted += records.length
    return { status: 200, body: { status: 1 } }
  }
  return CAPTURE_PATHS.flatMap((path) => [
    { method: 'POST' as const, path, handle },
    { method: 'GET' as const, path, handle },
  ])
}
