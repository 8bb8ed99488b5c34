import { describe, expect, it } from 'vitest'
import { type PluginEvent, toProcessedEvent } from './events.js'

const NOW = '2026-11-21T10:00:00.000Z'

const withTimestamp = (timestamp: string): PluginEvent => ({
  uuid: 'u',
  distinct_id: 'd',
  ip: null,
  site_url: '',
  team_id: 1,
  now: NOW,
  event: 'e',
  timestamp,
})

/** What the timestamp becomes when parsed as a Date: its ISO form, or `now` when it does not parse. */
const parsed = (timestamp: string) => {
  const time = new Date(timestamp)
  return Number.isNaN(time.getTime()) ? NOW : time.toISOString()
}

describe('toProcessedEvent timestamp', () => {
  it.each([
    '2026-11-21T09:59:59.123Z',
    '2024-02-29T23:59:59.999Z',
    '0000-01-01T00:00:00.000Z',
    '9999-12-31T23:59:59.999Z',
    // Date rolls these over, so they are not kept as they are.
    '2026-02-29T00:00:00.000Z',
    '2026-02-30T00:00:00.000Z',
    '2026-04-31T00:00:00.000Z',
    '2100-02-29T00:00:00.000Z',
    '2026-01-01T24:00:00.000Z',
    // Not valid at all: the event's `now` is used.
    '2026-13-01T00:00:00.000Z',
    '2026-00-10T00:00:00.000Z',
    '2026-01-00T00:00:00.000Z',
    '2026-01-01T00:60:00.000Z',
    '2026-01-01T00:00:60.000Z',
    // Other forms Date accepts.
    '2026-11-21T09:59:59Z',
    '2026-11-21T09:59:59.123+02:00',
    '2026-11-21',
    '2026-11-21T09:59:59.123z',
    'Sat, 21 Nov 2026 09:59:59 GMT',
  ])('is %s as Date reads it', (timestamp) => {
    expect(toProcessedEvent(withTimestamp(timestamp)).timestamp).toBe(parsed(timestamp))
  })

  it('agrees with Date on canonical-looking timestamps with any digits', () => {
    let seed = 7
    const random = (below: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed % below
    }
    const two = (below: number) => String(random(below)).padStart(2, '0')
    for (let i = 0; i < 5_000; i++) {
      const timestamp = `${String(random(10_000)).padStart(4, '0')}-${two(14)}-${two(33)}T${two(26)}:${two(62)}:${two(62)}.${String(random(1000)).padStart(3, '0')}Z`
      expect(toProcessedEvent(withTimestamp(timestamp)).timestamp, timestamp).toBe(parsed(timestamp))
    }
  })
})
