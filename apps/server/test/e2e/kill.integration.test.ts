import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  closeTwoInstances,
  expectEverySlowStampedEvent,
  loadAndStopOneMidway,
  STOP_TEST_MAX_BATCH_SIZE,
  startTwoSlowInstances,
  type TwoInstances,
} from './harness.js'

const PARTITIONS = 8

/**
 * The most events a killed instance can have written to the sink without committing them: the
 * transport commits a partition's offset after each slice the pipeline acknowledged (the sink
 * confirmed it) and before handling the next, so at most one slice per partition the instance
 * held at the kill is written-but-uncommitted, each slice at most SLUICE_MAX_BATCH_SIZE events.
 * It works on every partition it holds at once (2 consumers × 4 partitions each) and holds 4 of
 * the 8 once the group settled, more while the other instance's consumers rejoin: the bound allows
 * every partition. Those are delivered again by the instance that takes them over; nothing else may
 * repeat.
 */
const DUPLICATE_BOUND = PARTITIONS * STOP_TEST_MAX_BATCH_SIZE

describe('kill -9 of one of two instances under load', () => {
  let test: TwoInstances

  beforeAll(async () => {
    test = await startTwoSlowInstances({ redisDb: 12, partitions: PARTITIONS })
  }, 150_000)

  afterAll(closeTwoInstances, 60_000)

  it('loses nothing and repeats at most one uncommitted slice per partition the killed instance worked on', async () => {
    const { all, reachedSinkAtStop } = await loadAndStopOneMidway(test, async (a) => {
      expect(await a.kill()).toEqual({ code: null, signal: 'SIGKILL' })
    })
    // The group moves the dead instance's partitions after its session times out (30 s).
    const duplicates = await expectEverySlowStampedEvent(test.reader, all, 120_000)
    console.info(
      `kill -9: ${all.length} events, ${reachedSinkAtStop} had reached the sink at the kill, ${duplicates} duplicate deliveries (bound ${DUPLICATE_BOUND})`,
    )
    expect(duplicates).toBeLessThanOrEqual(DUPLICATE_BOUND)
  }, 180_000)
})
