import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  closeTwoInstances,
  type ExitStatus,
  expectEverySlowStampedEvent,
  loadAndStopOneMidway,
  startTwoSlowInstances,
  type TwoInstances,
} from './harness.js'

describe('SIGTERM to one of two instances under load', () => {
  let test: TwoInstances

  beforeAll(async () => {
    test = await startTwoSlowInstances({ redisDb: 13 })
  }, 150_000)

  afterAll(closeTwoInstances, 60_000)

  it('loses nothing, repeats nothing, and the stopped process exits 0', async () => {
    let exited: Promise<ExitStatus> | undefined
    const { all, reachedSinkAtStop } = await loadAndStopOneMidway(test, async (a) => {
      // Not awaited: the load goes on while the instance finishes its slices and leaves the group.
      exited = a.terminate()
    })
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(test.a.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true)
    const duplicates = await expectEverySlowStampedEvent(test.reader, all, 60_000)
    console.info(
      `SIGTERM: ${all.length} events, ${reachedSinkAtStop} had reached the sink at the signal, ${duplicates} duplicate deliveries`,
    )
    // A graceful stop commits every slice it wrote before leaving the group.
    expect(duplicates).toBe(0)
  }, 180_000)
})
