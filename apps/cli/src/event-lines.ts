// One line of `sluice run` input → a PluginEvent the pipeline accepts, or why not.
import { decodeEvent } from '@sluice/core'

/** What `sluice run` fills in when an input event leaves it out (documented in the README). */
export interface EventDefaults {
  /** A new event uuid. */
  newUuid: () => string
  /** @default 1 */
  teamId?: number
  /** @default 'anonymous' */
  distinctId?: string
}

/** A usable event as ingestion JSON, or the reason the line cannot be processed. */
export type EventLine = { ok: true; json: string; teamId: number } | { ok: false; reason: string }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Parses one JSONL line into a PluginEvent. `event` is required; a missing `uuid` gets a new one,
 * `team_id` 1, `distinct_id` `"anonymous"` and `properties` `{}`; core's ingestion decoding then
 * sets `now` to the time read, `ip` to null and `site_url` to `''`, and checks the rest.
 */
export function parseEventLine(line: string, receivedAt: number, defaults: EventDefaults): EventLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` }
  }
  if (!isObject(value)) return { ok: false, reason: 'an event must be a JSON object' }
  const filled: Record<string, unknown> = { ...value }
  if (filled.uuid === undefined || filled.uuid === null || filled.uuid === '')
    filled.uuid = defaults.newUuid()
  if (filled.team_id === undefined || filled.team_id === null) filled.team_id = defaults.teamId ?? 1
  if (filled.distinct_id === undefined || filled.distinct_id === null || filled.distinct_id === '') {
    filled.distinct_id = defaults.distinctId ?? 'anonymous'
  }
  if (filled.properties === undefined || filled.properties === null) filled.properties = {}
  const json = JSON.stringify(filled)
  const decoded = decodeEvent(json, receivedAt)
  if (!decoded.ok) return { ok: false, reason: decoded.reason }
  return { ok: true, json: JSON.stringify(decoded.event), teamId: decoded.event.team_id }
}
