import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  closeTwoInstances,
  expectEverySlowStampedEvent,
  loadAndStopOneMidway,
  STOP_TEST_MAX_BATCH_SIZE,
  startTwoSlowInstances,
  type TwoInstances,
} from './harness.js'

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
const DUPLICATE_BOUND = Math.min(PARTITIONS, SLICES_IN_FLIGHT_PER_INSTANCE) * STOP_TEST_MAX_BATCH_SIZE

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
