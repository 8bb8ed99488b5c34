import { describeLogSinkConformance } from '@sluice/conformance'
import { type LogEntry, LogSinkError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryLogSink, DEFAULT_MAX_LOG_ENTRIES_PER_CONFIG } from './log-sink.js'

describeLogSinkConformance('memory', () => createMemoryLogSink(), {})

const entry = (configId: number, timestamp: number, message = `at ${timestamp}`): LogEntry => ({
  configId,
  teamId: 1,
  level: 'info',
  source: 'plugin',
  message,
  timestamp,
  instanceId: 'i',
})

describe('createMemoryLogSink', () => {
  it('keeps 10,000 entries per config by default', async () => {
    expect(DEFAULT_MAX_LOG_ENTRIES_PER_CONFIG).toBe(10_000)
    const logs = createMemoryLogSink()
    await logs.append(Array.from({ length: 10_005 }, (_, i) => entry(1, i)))
    const oldest = await logs.query({ configId: 1, limit: 20_000 })
    expect(oldest).toHaveLength(10_000)
    expect(oldest.at(-1)?.timestamp).toBe(5)
  })

  it('a full ring drops the config’s oldest-appended entries first', async () => {
    const logs = createMemoryLogSink({ maxEntriesPerConfig: 3 })
    await logs.append([entry(1, 50), entry(1, 10), entry(1, 40)])
    await logs.append([entry(1, 20), entry(1, 30)])
    expect((await logs.query({ configId: 1 })).map((e) => e.timestamp)).toEqual([40, 30, 20])
  })

  it('each config has its own bound', async () => {
    const logs = createMemoryLogSink({ maxEntriesPerConfig: 2 })
    await logs.append([entry(1, 1), entry(2, 2), entry(1, 3), entry(1, 4), entry(1, 5)])
    expect((await logs.query({ configId: 1 })).map((e) => e.timestamp)).toEqual([5, 4])
    expect((await logs.query({ configId: 2 })).map((e) => e.timestamp)).toEqual([2])
  })

  it('entries with the same timestamp come back latest-appended first', async () => {
    const logs = createMemoryLogSink({ maxEntriesPerConfig: 3 })
    await logs.append([entry(1, 7, 'a'), entry(1, 7, 'b'), entry(1, 7, 'c'), entry(1, 7, 'd')])
    expect((await logs.query({ configId: 1 })).map((e) => e.message)).toEqual(['d', 'c', 'b'])
  })

  it('stores and returns copies', async () => {
    const logs = createMemoryLogSink()
    const appended = entry(1, 1, 'original')
    await logs.append([appended])
    appended.message = 'changed after append'
    const [returned] = await logs.query({ configId: 1 })
    if (!returned) throw new Error('entry missing')
    returned.message = 'changed after query'
    expect((await logs.query({ configId: 1 }))[0]?.message).toBe('original')
  })

  it('a limit of 0 returns nothing', async () => {
    const logs = createMemoryLogSink()
    await logs.append([entry(1, 1)])
    expect(await logs.query({ configId: 1, limit: 0 })).toEqual([])
  })

  it.each([0, -1, 1.5, Number.NaN])('rejects maxEntriesPerConfig %s', (max) => {
    expect(() => createMemoryLogSink({ maxEntriesPerConfig: max })).toThrow(LogSinkError)
  })
})
