import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeTwoInstances, makeEvents, sendEvents, startTwoInstances, type TwoInstances } from './harness.js'

describe('two server processes sharing the work over Kafka', () => {
  let test: TwoInstances

  beforeAll(async () => {
    test = await startTwoInstances({
      redisDb: 11,
      plugins: [
        { example: 'strip-pii' },
        { example: 'session-counter' },
        {
          name: 'E2E stamp',
          source:
            "export function processEvent(event) {\n  event.properties = { ...event.properties, stamped: 'yes' }\n  return event\n}\n",
        },
      ],
    })
  }, 150_000)

  afterAll(closeTwoInstances, 60_000)

  it('runs every event sent to either instance through the plugins to the Kafka sink, once', async () => {
    const { a, b, reader } = test
    const events = makeEvents(600)
    await Promise.all([sendEvents(a, events.slice(0, 300)), sendEvents(b, events.slice(300))])
    await reader.waitFor(
      events.map((event) => event.uuid),
      90_000,
    )

    for (const sent of events) {
      const [received] = reader.byUuid.get(sent.uuid) ?? []
      expect(received).toMatchObject({ event: 'e2e event', distinct_id: sent.distinctId, team_id: 1 })
      expect(received?.properties).toMatchObject({
        seq: sent.properties.seq,
        stamped: 'yes',
        session_number: 1,
        session_event_number: expect.any(Number),
      })
      expect(received?.properties).not.toHaveProperty('email')
      expect(received?.properties.$plugins_succeeded).toHaveLength(3)
      expect(received?.properties.$plugins_failed ?? []).toEqual([])
    }
    // Each user's events are numbered 1…n by session-counter across both instances: the shared
    // Redis cache saw every event of a user exactly once.
    const numbers = new Map<string, number[]>()
    for (const sent of events) {
      const received = reader.byUuid.get(sent.uuid)?.[0]
      numbers.set(sent.distinctId, [
        ...(numbers.get(sent.distinctId) ?? []),
        received?.properties.session_event_number as number,
      ])
    }
    for (const list of numbers.values()) {
      expect(list.sort((x, y) => x - y)).toEqual(Array.from({ length: list.length }, (_, index) => index + 1))
    }
    expect(reader.duplicates()).toBe(0)
    // Both consumers of the group did part of the work.
    expect(await a.metric('sluice_plugin_events_in_total')).toBeGreaterThan(0)
    expect(await b.metric('sluice_plugin_events_in_total')).toBeGreaterThan(0)
  }, 120_000)
})
