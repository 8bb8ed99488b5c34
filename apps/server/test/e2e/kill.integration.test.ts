import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  closeTwoInstances,
  makeEvents,
  sendEvents,
  slowStampSource,
  startTwoInstances,
  type TwoInstances,
} from './harness.js'

const MAX_BATCH_SIZE = 50
/** The Kafka queue's default `partitionsConsumedConcurrently`: slices one instance works on at once. */
const SLICES_IN_FLIGHT_PER_INSTANCE = 4
const PARTITIONS = 8

/**
 * The most events a killed instance can have written to the sink without committing them: the
 * transport commits a partition's offset after each slice the pipeline acknowledged (the sink
 * confirmed it) and before fetching the next, so at most one slice per partition it works on is
 * written-but-uncommitted, and it works on at most min(its partitions, 4) partitions at once, each
 * slice at most SLUICE_MAX_BATCH_SIZE events. Those are delivered again by the instance that takes
 * the partitions over; nothing else may repeat.
 */
const DUPLICATE_BOUND = Math.min(PARTITIONS, SLICES_IN_FLIGHT_PER_INSTANCE) * MAX_BATCH_SIZE

describe('kill -9 of one of two instances under load', () => {
  let test: TwoInstances

  beforeAll(async () => {
    test = await startTwoInstances({
      redisDb: 12,
      partitions: PARTITIONS,
      env: { SLUICE_MAX_BATCH_SIZE: String(MAX_BATCH_SIZE) },
      // 4 ms of work per event: the instances fall behind the load, so at the kill the killed one is
      // in the middle of slices.
      plugins: [{ example: 'strip-pii' }, { name: 'E2E slow stamp', source: slowStampSource(4) }],
    })
  }, 150_000)

  afterAll(closeTwoInstances, 60_000)

  it('loses nothing and repeats at most one uncommitted slice per partition the killed instance worked on', async () => {
    const { a, b, reader } = test
    // Sent to both before the kill (every request answered, so every event is in Kafka), then to
    // the survivor while the killed instance's partitions wait for the group to notice.
    const early = makeEvents(400)
    await Promise.all([sendEvents(a, early.slice(0, 200)), sendEvents(b, early.slice(200))])
    const late = makeEvents(2000)
    let killedAt = -1
    await sendEvents(b, late, {
      perRequest: 50,
      pauseMs: 50,
      onSent: async (sent) => {
        // Mid-load: events are still being sent and both instances are working through a backlog.
        if (killedAt < 0 && sent >= 600) {
          expect(await a.metric('sluice_plugin_events_in_total')).toBeGreaterThan(0)
          killedAt = reader.byUuid.size ?? 0
          expect(await a.kill()).toEqual({ code: null, signal: 'SIGKILL' })
        }
      },
    })
    expect(killedAt).toBeGreaterThanOrEqual(0)
    const all = [...early, ...late]
    // The group moves the dead instance's partitions after its session times out (30 s).
    await reader.waitFor(
      all.map((event) => event.uuid),
      120_000,
    )
    for (const sent of all) {
      const [received] = reader.byUuid.get(sent.uuid) ?? []
      expect(received?.properties).toMatchObject({ seq: sent.properties.seq, stamped: true })
      expect(received?.properties).not.toHaveProperty('email')
    }
    const duplicates = reader.duplicates() ?? 0
    console.info(
      `kill -9: ${all.length} events, ${killedAt} had reached the sink at the kill, ${duplicates} duplicate deliveries (bound ${DUPLICATE_BOUND})`,
    )
    expect(duplicates).toBeLessThanOrEqual(DUPLICATE_BOUND)
  }, 180_000)
})
