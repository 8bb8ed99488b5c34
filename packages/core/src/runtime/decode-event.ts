import type { Problem } from '../errors.js'
import type { PluginEvent } from '../events.js'
import { MAX_PAYLOAD_BYTES, oversizedPayloadBytes } from './plugin-host.js'

/**
 * A queue message decoded into an event and its JSON text (the message itself when decoding
 * changed nothing), or the reason it cannot be processed.
 */
export type DecodedEvent = { ok: true; event: PluginEvent; json: string } | { ok: false; reason: string }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Decodes an ingestion message (PluginEvent JSON) and checks it can go through the pipeline.
 * Missing optional fields get their neutral values (`ip: null`, `site_url: ''`, `now` = receive time).
 */
export function decodeEvent(text: string, receivedAt: number): DecodedEvent {
  const oversized = oversizedPayloadBytes(text)
  if (oversized !== null) {
    return { ok: false, reason: `event is ${oversized} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES}` }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` }
  }
  if (!isObject(value)) return { ok: false, reason: 'an event must be a JSON object' }
  const problems: Problem[] = []
  if (typeof value.uuid !== 'string' || value.uuid === '')
    problems.push({ field: 'uuid', message: 'must be a non-empty string' })
  if (typeof value.event !== 'string' || value.event === '')
    problems.push({ field: 'event', message: 'must be a non-empty string' })
  if (!Number.isInteger(value.team_id)) problems.push({ field: 'team_id', message: 'must be an integer' })
  const distinctId = value.distinct_id
  if (!(typeof distinctId === 'string' && distinctId !== '') && typeof distinctId !== 'number') {
    problems.push({ field: 'distinct_id', message: 'must be a non-empty string or a number' })
  }
  for (const field of ['properties', '$set', '$set_once'] as const) {
    if (value[field] !== undefined && value[field] !== null && !isObject(value[field])) {
      problems.push({ field, message: 'must be an object' })
    }
  }
  if (problems.length > 0) {
    return { ok: false, reason: problems.map((p) => `${p.field} ${p.message}`).join('; ') }
  }
  const event = value as unknown as PluginEvent
  let changed = false
  if (typeof distinctId !== 'string') {
    event.distinct_id = String(distinctId)
    changed = true
  }
  if (typeof event.now !== 'string') {
    event.now = new Date(receivedAt).toISOString()
    changed = true
  }
  if (event.ip === undefined) {
    event.ip = null
    changed = true
  }
  if (typeof event.site_url !== 'string') {
    event.site_url = ''
    changed = true
  }
  return { ok: true, event, json: changed ? JSON.stringify(event) : text }
}
