import { describe, expect, it } from 'vitest'
import { parseEventLine } from './event-lines.js'

const at = Date.UTC(2026, 0, 2, 3, 4, 5)
const defaults = { newUuid: () => 'new-uuid' }

describe('parseEventLine', () => {
  it('fills uuid, team_id, distinct_id, properties, now, ip and site_url when missing', () => {
    const line = parseEventLine('{"event":"pageview"}', at, defaults)
    expect(line).toEqual({ ok: true, teamId: 1, json: expect.any(String) })
    expect(line.ok && JSON.parse(line.json)).toEqual({
      event: 'pageview',
      uuid: 'new-uuid',
      team_id: 1,
      distinct_id: 'anonymous',
      properties: {},
      now: '2026-01-02T03:04:05.000Z',
      ip: null,
      site_url: '',
    })
  })

  it('keeps every field the event has', () => {
    const event = {
      uuid: 'u',
      event: 'e',
      team_id: 7,
      distinct_id: 'd',
      properties: { a: 1 },
      now: '2025-01-01T00:00:00.000Z',
      ip: '1.2.3.4',
      site_url: 'https://x',
      timestamp: '2025-01-01T00:00:00.000Z',
    }
    const line = parseEventLine(JSON.stringify(event), at, defaults)
    expect(line.ok && JSON.parse(line.json)).toEqual(event)
    expect(line.ok && line.teamId).toBe(7)
  })

  it('says why a line is not a usable event', () => {
    expect(parseEventLine('{"event":', at, defaults)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^not valid JSON: /),
    })
    expect(parseEventLine('[1]', at, defaults)).toEqual({
      ok: false,
      reason: 'an event must be a JSON object',
    })
    expect(parseEventLine('{"properties":{}}', at, defaults)).toEqual({
      ok: false,
      reason: 'event must be a non-empty string',
    })
    expect(parseEventLine('{"event":"e","team_id":"2","properties":[]}', at, defaults)).toEqual({
      ok: false,
      reason: 'team_id must be an integer; properties must be an object',
    })
  })
})
