import type { ProcessedPluginEvent, Sink } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/** What a Sink suite factory returns: the sink, and a way to see what its destination holds. */
export interface SinkUnderTest {
  sink: Sink
  /**
   * Every event the destination holds, in the order it holds them. It may hold events other tests
   * wrote; the suite only looks at the ones it wrote (by uuid).
   */
  read(): Promise<ProcessedPluginEvent[]>
}

/**
 * The Sink conformance suite. The Sink port declares no capabilities: pass `{}`.
 *
 * @example
 * describeSinkConformance('memory', () => {
 *   const sink = createMemorySink()
 *   return { sink, read: async () => sink.events() }
 * }, {})
 */
export function describeSinkConformance(
  name: string,
  factory: AdapterFactory<SinkUnderTest>,
  _capabilities: Readonly<Record<string, never>> = {},
  options: SuiteOptions<SinkUnderTest> = {},
): void {
  const real = options.time === 'real'
  const waitMs = real ? 30_000 : 5_000

  describe(`Sink conformance: ${name}`, { timeout: real ? 60_000 : 10_000 }, () => {
    const harness = createSuiteHarness(factory, options)

    beforeEach(() => {
      harness.begin()
    })
    afterEach(() => harness.end())

    const env = (): SuiteEnv => harness.env

    /** Reads until every one of `expected` is held (a destination may show writes with a delay). */
    const readBack = async (target: SinkUnderTest, expected: readonly ProcessedPluginEvent[]) => {
      const wanted = new Set(expected.map((e) => e.uuid))
      const deadline = Date.now() + waitMs
      for (;;) {
        const mine = (await target.read()).filter((event) => wanted.has(event.uuid))
        if (new Set(mine.map((e) => e.uuid)).size >= wanted.size) return mine
        if (Date.now() > deadline) {
          throw new Error(
            `timed out after ${waitMs} ms: the destination holds ${mine.length} of ${wanted.size} events`,
          )
        }
        await env().time.advance(real ? 50 : 10)
      }
    }

    let counter = 0
    const event = (overrides: Partial<ProcessedPluginEvent> = {}): ProcessedPluginEvent => {
      counter += 1
      return {
        uuid: crypto.randomUUID(),
        distinct_id: `${env().namespace}user-${counter % 3}`,
        ip: '203.0.113.7',
        team_id: 2,
        event: '$pageview',
        timestamp: new Date(Date.UTC(2026, 0, 1, 12, 0, 0, counter)).toISOString(),
        properties: { $current_url: 'https://example.com/a?b=c', n: counter },
        ...overrides,
      }
    }

    it('has a non-empty name', async () => {
      const { sink } = await harness.create()
      expect(typeof sink.name).toBe('string')
      expect(sink.name.length).toBeGreaterThan(0)
    })

    it('holds written events with every field intact', async () => {
      const target = await harness.create()
      const events = [
        event(),
        event({
          ip: null,
          event: 'signed up — ✓ 日本語',
          properties: {
            nested: { list: [1, 'two', { three: 3 }], empty: {}, none: null, flag: false },
            text: 'héllo 🚀 "quoted" \\ back\nline',
            float: 1.25,
          },
          $set: { email: 'a@example.com' },
          $set_once: { first_seen: '2026-01-01' },
          elements: [
            { tag_name: 'a', text: 'Buy', href: '/buy', attr_class: ['btn', 'primary'], nth_child: 1 },
          ],
        }),
      ]
      await target.sink.write(events)
      expect(await readBack(target, events)).toEqual(events)
    })

    it('keeps write order within and across writes', async () => {
      const target = await harness.create()
      const first = Array.from({ length: 300 }, () => event())
      const second = Array.from({ length: 200 }, () => event())
      await target.sink.write(first)
      await target.sink.write(second)
      const held = await readBack(target, [...first, ...second])
      expect(held.map((e) => e.uuid)).toEqual([...first, ...second].map((e) => e.uuid))
    })

    it('treats an empty write as a no-op', async () => {
      const target = await harness.create()
      const a = event()
      const b = event()
      await target.sink.write([a])
      await target.sink.write([])
      await target.sink.write([b])
      expect(await readBack(target, [a, b])).toEqual([a, b])
    })

    it('has every written event at the destination once close() resolved', async () => {
      const target = await harness.create()
      const events = Array.from({ length: 25 }, () => event())
      await target.sink.write(events.slice(0, 10))
      await target.sink.write(events.slice(10))
      await target.sink.close()
      expect(await readBack(target, events)).toEqual(events)
    })
  })
}
