import type { LogEntry, LogLevel, LogSink } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteOptions } from './support.js'

const T0 = Date.UTC(2026, 0, 1)

/**
 * The {@link LogSink} conformance suite: per-config entries, newest first, with the `since`,
 * `levels`, `search` and `limit` filters. It never assumes an empty sink: every test writes to
 * config ids of its own.
 * @example
 * describeLogSinkConformance('memory', () => createMemoryLogSink(), {})
 */
export function describeLogSinkConformance<T extends LogSink>(
  name: string,
  factory: AdapterFactory<T>,
  _capabilities: Record<string, never>,
  options: SuiteOptions<T> = {},
): void {
  describe(`LogSink conformance: ${name}`, { timeout: 15_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let logs: T
    /** A config id no other test uses; `configId + 1` is free too. Fits a 32-bit integer column. */
    let configId: number

    const entry = (overrides: Partial<LogEntry> & { timestamp: number }): LogEntry => ({
      configId,
      teamId: 7,
      level: 'info',
      source: 'plugin',
      message: `message at ${overrides.timestamp - T0}`,
      instanceId: 'instance-1',
      ...overrides,
    })
    const messages = (entries: readonly LogEntry[]) => entries.map((e) => e.message)

    beforeEach(async () => {
      harness.begin()
      configId = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
      logs = await harness.create()
    })
    afterEach(() => harness.end())

    it('query returns the appended entries exactly, newest first', async () => {
      const appended = [
        entry({ timestamp: T0 + 20, level: 'warn', source: 'system', message: 'ünïcødé 🦔 "quoted"' }),
        entry({ timestamp: T0 + 10, level: 'debug', teamId: 8, instanceId: 'instance-2' }),
        entry({ timestamp: T0 + 30, level: 'error', message: 'line one\nline two' }),
      ]
      await logs.append(appended.slice(0, 2))
      await logs.append(appended.slice(2))
      expect(await logs.query({ configId })).toEqual([appended[2], appended[0], appended[1]])
    })

    it('append of no entries resolves', async () => {
      await expect(logs.append([])).resolves.toBeUndefined()
    })

    it('a config without entries gives []', async () => {
      expect(await logs.query({ configId })).toEqual([])
    })

    it('query returns at most 100 entries by default: the newest', async () => {
      await logs.append(Array.from({ length: 150 }, (_, i) => entry({ timestamp: T0 + i })))
      const result = await logs.query({ configId })
      expect(result).toHaveLength(100)
      expect(result.map((e) => e.timestamp)).toEqual(Array.from({ length: 100 }, (_, i) => T0 + 149 - i))
    })

    it('limit caps the result to the newest entries', async () => {
      await logs.append(Array.from({ length: 10 }, (_, i) => entry({ timestamp: T0 + i })))
      expect((await logs.query({ configId, limit: 3 })).map((e) => e.timestamp)).toEqual([
        T0 + 9,
        T0 + 8,
        T0 + 7,
      ])
      expect(await logs.query({ configId, limit: 50 })).toHaveLength(10)
    })

    it('since keeps entries at or after it', async () => {
      await logs.append([10, 20, 30, 40].map((offset) => entry({ timestamp: T0 + offset })))
      expect((await logs.query({ configId, since: T0 + 20 })).map((e) => e.timestamp)).toEqual([
        T0 + 40,
        T0 + 30,
        T0 + 20,
      ])
      expect(await logs.query({ configId, since: T0 + 41 })).toEqual([])
    })

    it('levels keeps only the given levels', async () => {
      const levels: LogLevel[] = ['debug', 'log', 'info', 'warn', 'error']
      await logs.append(levels.map((level, i) => entry({ timestamp: T0 + i, level, message: level })))
      expect(messages(await logs.query({ configId, levels: ['error', 'debug'] }))).toEqual(['error', 'debug'])
      expect(messages(await logs.query({ configId, levels: ['log'] }))).toEqual(['log'])
    })

    it('search keeps entries whose message contains the text literally', async () => {
      const texts = ['100% done', '100 done', 'a_b', 'axb', 'prefix needle suffix', 'needle', 'no match']
      await logs.append(texts.map((message, i) => entry({ timestamp: T0 + i, message })))
      expect(messages(await logs.query({ configId, search: 'needle' }))).toEqual([
        'needle',
        'prefix needle suffix',
      ])
      expect(messages(await logs.query({ configId, search: '100%' }))).toEqual(['100% done'])
      expect(messages(await logs.query({ configId, search: 'a_b' }))).toEqual(['a_b'])
      expect(await logs.query({ configId, search: 'absent' })).toEqual([])
    })

    it('filters combine, and limit applies after them', async () => {
      await logs.append(
        Array.from({ length: 20 }, (_, i) =>
          entry({
            timestamp: T0 + i,
            level: i % 2 === 0 ? 'error' : 'info',
            message: `#${i} ${i % 4 === 0 ? 'x' : 'y'}`,
          }),
        ),
      )
      const result = await logs.query({ configId, since: T0 + 4, levels: ['error'], search: 'x', limit: 2 })
      expect(messages(result)).toEqual(['#16 x', '#12 x'])
    })

    it('entries of one config are not returned for another', async () => {
      await logs.append([
        entry({ timestamp: T0 + 1, message: 'mine' }),
        entry({ timestamp: T0 + 2, configId: configId + 1, message: 'theirs' }),
      ])
      expect(messages(await logs.query({ configId }))).toEqual(['mine'])
      expect(messages(await logs.query({ configId: configId + 1 }))).toEqual(['theirs'])
    })
  })
}
