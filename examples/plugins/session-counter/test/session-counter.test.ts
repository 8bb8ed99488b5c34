import { createManualClock, createPluginTester, type PluginTester } from '@sluice/testkit'
import { afterEach, describe, expect, it } from 'vitest'

const folder = new URL('..', import.meta.url)
const START = Date.UTC(2026, 10, 21, 9, 0, 0)
const MINUTE = 60_000

let plugin: PluginTester | undefined
afterEach(async () => {
  await plugin?.close()
  plugin = undefined
})

const load = async (config: Record<string, unknown> = {}) => {
  plugin = await createPluginTester({ path: folder, config, clock: createManualClock(START) })
  return plugin
}

const sessionOf = async (plugin: PluginTester, distinctId: string) => {
  const event = await plugin.processEvent({ event: '$pageview', distinct_id: distinctId })
  return [event?.properties?.session_number, event?.properties?.session_event_number]
}

describe('session-counter', () => {
  it("numbers each person's sessions and the events in them", async () => {
    const plugin = await load()
    expect(await sessionOf(plugin, 'ada')).toEqual([1, 1])
    expect(await sessionOf(plugin, 'ada')).toEqual([1, 2])
    expect(await sessionOf(plugin, 'grace')).toEqual([1, 1])
    expect(plugin.metrics).toEqual({ sessions_started: 2 })
  })

  it('starts a new session after the timeout without events', async () => {
    const plugin = await load({ sessionMinutes: '10' })
    expect(await sessionOf(plugin, 'ada')).toEqual([1, 1])
    plugin.advanceTime(9 * MINUTE)
    expect(await sessionOf(plugin, 'ada')).toEqual([1, 2])
    plugin.advanceTime(10 * MINUTE)
    expect(await sessionOf(plugin, 'ada')).toEqual([2, 1])
    expect(await plugin.storage.get('sessions:ada', 0)).toBe(2)
  })

  it('checks a session when it could have ended, and reports it once it has', async () => {
    const plugin = await load()
    await sessionOf(plugin, 'ada')
    expect(plugin.pendingJobs).toEqual([
      {
        name: 'checkSession',
        payload: { distinctId: 'ada', session: 1 },
        runAt: new Date(START + 30 * MINUTE),
        attempt: 0,
      },
    ])

    plugin.advanceTime(20 * MINUTE)
    await sessionOf(plugin, 'ada')
    await sessionOf(plugin, 'ada')

    // At 30 minutes the session is still alive (last event at 20): the job looks again later.
    plugin.advanceTime(10 * MINUTE)
    expect(await plugin.runDueJobs()).toHaveLength(1)
    expect(plugin.captured).toEqual([])
    expect(plugin.pendingJobs.map((job) => job.runAt)).toEqual([new Date(START + 60 * MINUTE)])

    plugin.advanceTime(30 * MINUTE)
    const runs = await plugin.runDueJobs()
    expect(runs.map((run) => run.error)).toEqual([undefined])
    expect(plugin.captured).toEqual([
      { event: 'session ended', properties: { distinct_id: 'ada', session_number: 1, events: 3 } },
    ])
    expect(plugin.metrics).toEqual({ sessions_started: 1, sessions_ended: 1, most_events_in_a_session: 3 })
    expect(plugin.pendingJobs).toEqual([])
  })

  it('reports a session that ended even if the person is back in a new one', async () => {
    const plugin = await load({ sessionMinutes: '5' })
    await sessionOf(plugin, 'ada')
    plugin.advanceTime(5 * MINUTE)
    expect(await sessionOf(plugin, 'ada')).toEqual([2, 1])
    await plugin.runDueJobs()
    expect(plugin.captured.map((captured) => captured.properties.session_number)).toEqual([1])
  })

  it('reports new sessions every minute and keeps a running total', async () => {
    const plugin = await load()
    await plugin.runEveryMinute()
    expect(plugin.logs).toEqual([])

    await plugin.processEvents([
      { event: 'a', distinct_id: 'ada' },
      { event: 'b', distinct_id: 'grace' },
      { event: 'c', distinct_id: 'ada' },
    ])
    await plugin.runEveryMinute()
    await sessionOf(plugin, 'linus')
    await plugin.runEveryMinute()

    expect(plugin.logs.map((entry) => entry.message)).toEqual([
      '2 sessions started since the last report; 2 in all',
      '1 session started since the last report; 3 in all',
    ])
    expect(await plugin.storage.get('total_sessions', 0)).toBe(3)
  })

  it('fails setup on a timeout that is not a positive number', async () => {
    await expect(load({ sessionMinutes: 'half an hour' })).rejects.toThrow(
      "setupPlugin failed: Error: sessionMinutes must be a positive number of minutes, got 'half an hour'",
    )
  })
})
