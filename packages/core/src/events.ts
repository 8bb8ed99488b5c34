/**
 * The three event shapes of the PostHog plugin API (SPEC §4), and the conversions between them.
 */

/** Free-form event properties. */
export type Properties = Record<string, unknown>

/** An event as `processEvent` receives and returns it. */
export interface PluginEvent {
  uuid: string
  distinct_id: string
  ip: string | null
  site_url: string
  team_id: number
  /** When the server received the event (ISO 8601). */
  now: string
  event: string
  sent_at?: string
  timestamp?: string
  offset?: number
  properties?: Properties
  $set?: Properties
  $set_once?: Properties
}

/** An element of an autocapture event's chain (`$elements`). */
export interface Element {
  text?: string
  tag_name?: string
  href?: string
  attr_class?: string[]
  attr_id?: string
  nth_child?: number
  nth_of_type?: number
  attributes?: Record<string, string>
  event_id?: number
  order?: number
  group_id?: number
}

/** An event as `onEvent`, `onSnapshot` and `exportEvents` receive it: processed and read-only. */
export interface ProcessedPluginEvent {
  uuid: string
  distinct_id: string
  ip: string | null
  team_id: number
  event: string
  /** ISO 8601. */
  timestamp: string
  properties: Properties
  $set?: Properties
  $set_once?: Properties
  elements?: Element[]
}

/** An event as `composeWebhook` receives it. */
export interface PostHogEvent {
  uuid: string
  team_id: number
  distinct_id: string
  event: string
  timestamp: Date
  properties: Properties
}

/** The request `composeWebhook` returns; the server delivers it. */
export interface Webhook {
  url: string
  body: string
  headers?: Record<string, string>
  /** @default 'POST' */
  method?: string
}

/**
 * The event time of a plugin event: `timestamp` if it parses, else `now` adjusted by `offset`
 * (milliseconds before `now`, as SDKs send), else `now`.
 */
export function eventTime(event: PluginEvent): Date {
  if (event.timestamp) {
    const parsed = new Date(event.timestamp)
    if (!Number.isNaN(parsed.getTime())) return parsed
  }
  const now = new Date(event.now)
  if (typeof event.offset === 'number' && Number.isFinite(event.offset)) {
    return new Date(now.getTime() - event.offset)
  }
  return now
}

const CANONICAL_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

const digitsAt = (text: string, start: number, count: number) => {
  let value = 0
  for (let i = start; i < start + count; i++) value = value * 10 + text.charCodeAt(i) - 48
  return value
}

const daysIn = (year: number, month: number) =>
  month === 2
    ? (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      ? 29
      : 28
    : month === 4 || month === 6 || month === 9 || month === 11
      ? 30
      : 31

/**
 * Whether `text` is already what `new Date(text).toISOString()` gives back (`YYYY-MM-DDTHH:mm:ss.sssZ`
 * naming a real instant), so it can be kept without parsing: SDKs send timestamps this way, and
 * parsing and formatting a date costs about a microsecond per event on the pipeline's thread.
 * Dates that `Date` rolls over (February 30, 24:00) are not, and take the slow path.
 */
function isCanonicalTime(text: string): boolean {
  if (!CANONICAL_TIME.test(text)) return false
  const month = digitsAt(text, 5, 2)
  const day = digitsAt(text, 8, 2)
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(digitsAt(text, 0, 4), month) &&
    digitsAt(text, 11, 2) <= 23 &&
    digitsAt(text, 14, 2) <= 59 &&
    digitsAt(text, 17, 2) <= 59
  )
}

/** {@link eventTime} as an ISO 8601 string, the timestamp kept as it is when already one. */
const eventTimestamp = (event: PluginEvent): string =>
  typeof event.timestamp === 'string' && isCanonicalTime(event.timestamp)
    ? event.timestamp
    : eventTime(event).toISOString()

/**
 * The read-only form of a processed event, as onEvent and exportEvents receive it, with a copy of
 * the event's properties or, when given, `properties` instead (a copy the caller already made).
 */
export function toProcessedEvent(
  event: PluginEvent,
  properties: Properties = { ...(event.properties ?? {}) },
): ProcessedPluginEvent {
  const processed: ProcessedPluginEvent = {
    uuid: event.uuid,
    distinct_id: event.distinct_id,
    ip: event.ip,
    team_id: event.team_id,
    event: event.event,
    timestamp: eventTimestamp(event),
    properties,
  }
  const $set = event.$set ?? (properties.$set as Properties | undefined)
  const $setOnce = event.$set_once ?? (properties.$set_once as Properties | undefined)
  if ($set) processed.$set = $set
  if ($setOnce) processed.$set_once = $setOnce
  if (Array.isArray(properties.$elements)) processed.elements = properties.$elements as Element[]
  return processed
}

/** The form composeWebhook receives. */
export function toPostHogEvent(event: ProcessedPluginEvent): PostHogEvent {
  return {
    uuid: event.uuid,
    team_id: event.team_id,
    distinct_id: event.distinct_id,
    event: event.event,
    timestamp: new Date(event.timestamp),
    properties: event.properties,
  }
}

/** Whether an event is a session recording snapshot (routed to onSnapshot, skipping processEvent). */
export function isSnapshotEvent(event: { event: string }): boolean {
  return event.event === '$snapshot'
}
