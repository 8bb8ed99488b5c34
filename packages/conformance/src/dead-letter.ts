import {
  DEAD_LETTER_SOURCES,
  type DeadLetter,
  type DeadLetterSource,
  type DeadLetterStore,
  type NewDeadLetter,
} from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { namespaceNumber } from './namespace-number.js'
import { type AdapterFactory, createSuiteHarness, type SuiteOptions } from './support.js'

/**
 * The DeadLetterStore conformance suite. Every entry it writes carries a team and config id derived
 * from the test's namespace, and every list filters by one of them, so a shared store is fine. The
 * DeadLetterStore port declares no capabilities: pass `{}`.
 *
 * @example
 * describeDeadLetterConformance('memory', ({ time }) => createMemoryDeadLetterStore({ clock: time.clock }), {})
 */
export function describeDeadLetterConformance(
  name: string,
  factory: AdapterFactory<DeadLetterStore>,
  _capabilities: Readonly<Record<string, never>> = {},
  options: SuiteOptions<DeadLetterStore> = {},
): void {
  const real = options.time === 'real'

  describe(`DeadLetterStore conformance: ${name}`, { timeout: real ? 60_000 : 10_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let teamId = 0
    let configId = 0

    beforeEach(() => {
      const env = harness.begin()
      teamId = namespaceNumber(env.namespace)
      configId = namespaceNumber(`${env.namespace}config`)
    })
    afterEach(() => harness.end())

    const entry = (overrides: Partial<NewDeadLetter> = {}): NewDeadLetter => ({
      source: 'ingestion',
      reason: 'event is not valid JSON',
      payload: '{"event": ',
      teamId,
      configId,
      ...overrides,
    })
    const ids = (entries: readonly DeadLetter[]) => entries.map((e) => e.id)

    it('returns ids in order that sort, as strings, in insertion order', async () => {
      const store = await harness.create()
      const first = await store.put(Array.from({ length: 12 }, (_, i) => entry({ reason: `r${i}` })))
      const second = await store.put([entry(), entry()])
      const all = [...first, ...second]
      expect(all).toHaveLength(14)
      expect(new Set(all).size).toBe(14)
      expect([...all].sort()).toEqual(all)
      expect(ids(await store.list({ teamId }))).toEqual(all)
    })

    it('stores and filters by every source core writes', async () => {
      const store = await harness.create()
      await store.put(DEAD_LETTER_SOURCES.map((source) => entry({ source, reason: source })))
      for (const source of DEAD_LETTER_SOURCES) {
        expect((await store.list({ source, configId })).map((e) => e.reason)).toEqual([source])
      }
    })

    it('resolves a put of no entries to no ids', async () => {
      const store = await harness.create()
      expect(await store.put([])).toEqual([])
    })

    it('stores every field exactly, stamping createdAt from the clock', async () => {
      const store = await harness.create()
      const clock = harness.env.time.clock
      const large = JSON.stringify({ rows: 'x'.repeat(200 * 1024), tail: 'ü' })
      const entries: NewDeadLetter[] = [
        entry({
          source: 'webhook',
          reason: 'HTTP 503 — retried 3× ✗',
          payload: '{"text":"héllo 🚀 日本語\\n"}',
        }),
        entry({ source: 'export-events', payload: large, configId: null }),
        entry({ source: 'capture', reason: '', payload: 'line1\nline2\t"quoted" \\ back', teamId: teamId }),
      ]
      const before = clock.now()
      const put = await store.put(entries)
      const after = clock.now()
      const slack = real ? 2_000 : 0
      for (const [i, original] of entries.entries()) {
        const stored = await store.get(put[i] as string)
        expect(stored).toEqual({ ...original, id: put[i], createdAt: expect.any(Number) })
        expect(stored?.createdAt).toBeGreaterThanOrEqual(before - slack)
        expect(stored?.createdAt).toBeLessThanOrEqual(after + slack)
      }
      expect((await store.list({ teamId })).map(({ id, createdAt, ...rest }) => rest)).toEqual(entries)
    })

    it('lists oldest first, filtered by source, configId and teamId', async () => {
      const store = await harness.create()
      const otherConfig = configId + 1
      const sources: DeadLetterSource[] = ['ingestion', 'export-events', 'webhook', 'capture', 'sink']
      const put = await store.put(
        sources.flatMap((source) => [entry({ source }), entry({ source, configId: otherConfig })]),
      )
      await store.put([entry({ teamId: teamId + 1, configId: null })])

      expect(ids(await store.list({ teamId }))).toEqual(put)
      expect(ids(await store.list({ configId }))).toEqual(put.filter((_, i) => i % 2 === 0))
      expect(ids(await store.list({ configId: otherConfig, teamId }))).toEqual(
        put.filter((_, i) => i % 2 === 1),
      )
      for (const [s, source] of sources.entries()) {
        expect(ids(await store.list({ source, teamId }))).toEqual([put[2 * s], put[2 * s + 1]])
        expect(ids(await store.list({ source, configId, teamId }))).toEqual([put[2 * s]])
      }
      const other = await store.list({ teamId: teamId + 1 })
      expect(other).toHaveLength(1)
      expect(other[0]?.configId).toBeNull()
    })

    it('pages with after and limit, and lists at most 100 by default', async () => {
      const store = await harness.create()
      const put = await store.put(Array.from({ length: 105 }, (_, i) => entry({ reason: `r${i}` })))
      expect(ids(await store.list({ configId }))).toEqual(put.slice(0, 100))
      expect(ids(await store.list({ configId, limit: 3 }))).toEqual(put.slice(0, 3))

      const paged: string[] = []
      let after: string | undefined
      for (let page = 0; page < 20; page++) {
        const entries = await store.list(
          after === undefined ? { configId, limit: 10 } : { configId, limit: 10, after },
        )
        if (entries.length === 0) break
        expect(entries.length).toBeLessThanOrEqual(10)
        paged.push(...ids(entries))
        after = entries.at(-1)?.id
      }
      expect(paged).toEqual(put)
      expect(ids(await store.list({ configId, after: put[103] }))).toEqual([put[104]])
    })

    it('gets an entry by id, and null for an id it does not hold', async () => {
      const store = await harness.create()
      const [id] = (await store.put([entry({ reason: 'kept' })])) as [string]
      expect((await store.get(id))?.reason).toBe('kept')
      expect(await store.get(`${harness.env.namespace}no-such-id`)).toBeNull()
    })

    it('deletes entries and returns how many existed', async () => {
      const store = await harness.create()
      const [a, b, c] = (await store.put([entry(), entry(), entry()])) as [string, string, string]
      expect(await store.delete([a, c, a])).toBe(2)
      expect(await store.get(a)).toBeNull()
      expect(ids(await store.list({ teamId }))).toEqual([b])
      expect(await store.delete([a, c])).toBe(0)
      expect(await store.delete([])).toBe(0)
      expect(await store.delete([b])).toBe(1)
      expect(await store.list({ teamId })).toEqual([])
    })
  })
}
