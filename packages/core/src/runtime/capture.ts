import type { PluginEvent } from '../events.js'
import type { Clock } from '../ports/clock.js'
import type { DeadLetterStore } from '../ports/dead-letter.js'
import type { QueueTransport } from '../ports/queue.js'
import type { CaptureOrigin } from './plugin-host.js'
import type { Telemetry } from './telemetry.js'

/** The property carrying how many captures led to an event. */
export const CAPTURE_DEPTH = '$sluice_capture_depth'

/** Captures deeper than this are dropped and recorded (SPEC §3.1). */
export const MAX_CAPTURE_DEPTH = 3

/**
 * Tracks, per config, the capture depth of the events its plugin is working on, so that an event
 * captured during that work is one level deeper. Calls are batched and concurrent, so the depth
 * is the deepest among the events in flight: conservative, never lower than the truth.
 */
export interface CaptureDepth {
  /** Marks `events` as in flight for `configId`; call the returned function when the call ends. */
  enter(configId: number, events: readonly { properties?: Record<string, unknown> }[]): () => void
  /** The depth an event captured now by `configId` gets. */
  next(configId: number): number
}

const depthOf = (event: { properties?: Record<string, unknown> }) => {
  const value = event.properties?.[CAPTURE_DEPTH]
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 0
}

const toIsoTime = (value: unknown): string | null => {
  if (typeof value !== 'string' && typeof value !== 'number' && !(value instanceof Date)) return null
  const time = new Date(value)
  return Number.isNaN(time.getTime()) ? null : time.toISOString()
}

/** Creates the capture depth tracker. */
export function createCaptureDepth(): CaptureDepth {
  const active = new Map<number, number[]>()
  return {
    enter(configId, events) {
      let depth = 0
      for (const event of events) depth = Math.max(depth, depthOf(event))
      const list = active.get(configId) ?? []
      list.push(depth)
      active.set(configId, list)
      return () => {
        const index = list.indexOf(depth)
        if (index >= 0) list.splice(index, 1)
        if (list.length === 0) active.delete(configId)
      }
    },
    next(configId) {
      const list = active.get(configId)
      return (list && list.length > 0 ? Math.max(...list) : 0) + 1
    },
  }
}

/** What `posthog.capture` needs. */
export interface CaptureOptions {
  clock: Clock
  queue: QueueTransport
  ingestionTopic: string
  deadLetters: DeadLetterStore
  telemetry: Telemetry
  depth: CaptureDepth
  newUuid: () => string
}

/**
 * Builds the `posthog.capture` implementation: a new event for the origin's team, with
 * `distinct_id` and `timestamp` from the properties when given, otherwise the plugin's name and
 * now, produced to the ingestion queue. A chain deeper than {@link MAX_CAPTURE_DEPTH} is dropped
 * into the dead-letter store and logged.
 */
export function createCapture(options: CaptureOptions) {
  const { clock, queue, ingestionTopic, deadLetters, telemetry, depth, newUuid } = options
  return async (
    origin: CaptureOrigin,
    eventName: string,
    properties: Record<string, unknown>,
  ): Promise<void> => {
    const { distinct_id: distinctId, timestamp, ...rest } = properties
    const now = new Date(clock.now()).toISOString()
    const level = depth.next(origin.configId)
    const event: PluginEvent = {
      uuid: newUuid(),
      distinct_id:
        distinctId === undefined || distinctId === null || distinctId === ''
          ? origin.pluginName
          : String(distinctId),
      ip: null,
      site_url: '',
      team_id: origin.teamId,
      now,
      event: eventName,
      timestamp: toIsoTime(timestamp) ?? now,
      properties: { ...rest, [CAPTURE_DEPTH]: level },
    }
    const value = JSON.stringify(event)
    if (level > MAX_CAPTURE_DEPTH) {
      const reason = `capture chain deeper than ${MAX_CAPTURE_DEPTH} (posthog.capture('${eventName}') from ${origin.pluginName} (${origin.configId})): dropped to stop a loop`
      telemetry.log({
        configId: origin.configId,
        teamId: origin.teamId,
        level: 'warn',
        source: 'system',
        message: reason,
      })
      await deadLetters.put([
        { source: 'capture', reason, payload: value, teamId: origin.teamId, configId: origin.configId },
      ])
      return
    }
    await queue.produce(ingestionTopic, [{ key: `${event.team_id}:${event.distinct_id}`, value }])
  }
}
