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

/** The read-only form of a processed event, as onEvent and exportEvents receive it. */
export function toProcessedEvent(event: PluginEvent): ProcessedPluginEvent {
  const properties: Properties = { ...(event.properties ?? {}) }
  const processed: ProcessedPluginEvent = {
    uuid: event.uuid,
    distinct_id: event.distinct_id,
    ip: event.ip,
    team_id: event.team_id,
    event: event.event,
    timestamp: eventTime(event).toISOString(),
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
