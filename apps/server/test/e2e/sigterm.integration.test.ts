import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  closeTwoInstances,
  type ExitStatus,
  makeEvents,
  sendEvents,
  slowStampSource,
  startTwoInstances,
  type TwoInstances,
} from './harness.js'

const MAX_BATCH_SIZE = 50

describe('SIGTERM to one of two instances under load', () => {
  let test: TwoInstances

  beforeAll(async () => {
    test = await startTwoInstances({
      redisDb: 13,
      env: { SLUICE_MAX_BATCH_SIZE: String(MAX_BATCH_SIZE) },
      // 4 ms of work per event: the instances fall behind the load, so at the signal the stopped one
      // is in the middle of slices.
      plugins: [{ example: 'strip-pii' }, { name: 'E2E slow stamp', source: slowStampSource(4) }],
    })
  }, 150_000)

  afterAll(closeTwoInstances, 60_000)

  it('loses nothing, repeats nothing, and the stopped process exits 0', async () => {
    const { a, b, reader } = test
    // Sent to both first, then to the one that stays while the other shuts down.
    const early = makeEvents(400)
    await Promise.all([sendEvents(a, early.slice(0, 200)), sendEvents(b, early.slice(200))])
    const late = makeEvents(2000)
    let stoppedAt = -1
    let exited: Promise<ExitStatus> | undefined
    await sendEvents(b, late, {
      perRequest: 50,
      pauseMs: 50,
      onSent: async (sent) => {
        // Mid-load: events are still being sent and both instances are working through a backlog.
        if (stoppedAt < 0 && sent >= 600) {
          expect(await a.metric('sluice_plugin_events_in_total')).toBeGreaterThan(0)
          stoppedAt = reader.byUuid.size ?? 0
          // Not awaited: the load goes on while the instance finishes its slices and leaves the group.
          exited = a.terminate()
        }
      },
    })
    expect(stoppedAt).toBeGreaterThanOrEqual(0)
    expect(await exited).toEqual({ code: 0, signal: null })
    expect(a.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true)
    const all = [...early, ...late]
    await reader.waitFor(
      all.map((event) => event.uuid),
      60_000,
    )
    for (const sent of all) {
      const [received] = reader.byUuid.get(sent.uuid) ?? []
      expect(received?.properties).toMatchObject({ seq: sent.properties.seq, stamped: true })
      expect(received?.properties).not.toHaveProperty('email')
    }
    const duplicates = reader.duplicates() ?? 0
    console.info(
      `SIGTERM: ${all.length} events, ${stoppedAt} had reached the sink at the signal, ${duplicates} duplicate deliveries`,
    )
    // A graceful stop commits every slice it wrote before leaving the group.
    expect(duplicates).toBe(0)
  }, 180_000)
})
