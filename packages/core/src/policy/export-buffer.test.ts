import { describe, expect, it } from 'vitest'
import {
  EXPORT_BUFFER_DEFAULT_BYTES,
  EXPORT_BUFFER_MAX_BYTES,
  ExportBuffer,
  exportBufferSettings,
  LARGE_BATCHES_FACTOR,
} from './export-buffer.js'

const T0 = Date.UTC(2024, 0, 1)

describe('exportBufferSettings', () => {
  it('defaults to 1 MiB and 10 s with nothing ignored', () => {
    const settings = exportBufferSettings({})
    expect(EXPORT_BUFFER_DEFAULT_BYTES).toBe(1_048_576)
    expect(settings).toEqual({
      maxBytes: 1_048_576,
      maxAgeMs: 10_000,
      ignoredEvents: new Set(),
      warnings: [],
    })
  })

  it('multiplies the default byte limit by 10 for plugins that handle large batches', () => {
    expect(LARGE_BATCHES_FACTOR).toBe(10)
    expect(exportBufferSettings({}, true).maxBytes).toBe(10_485_760)
    expect(exportBufferSettings({}, true).maxAgeMs).toBe(10_000)
  })

  it('lets an explicit config value win over handlesLargeBatches', () => {
    expect(exportBufferSettings({ exportEventsBufferBytes: '2000' }, true).maxBytes).toBe(2000)
  })

  it('reads numbers and numeric strings', () => {
    expect(
      exportBufferSettings({ exportEventsBufferBytes: 5000, exportEventsBufferSeconds: 30 }),
    ).toMatchObject({
      maxBytes: 5000,
      maxAgeMs: 30_000,
    })
    expect(
      exportBufferSettings({ exportEventsBufferBytes: ' 5000 ', exportEventsBufferSeconds: '2.5' }),
    ).toMatchObject({
      maxBytes: 5000,
      maxAgeMs: 2500,
      warnings: [],
    })
  })

  it('uses the defaults for blank values without a warning', () => {
    expect(
      exportBufferSettings({
        exportEventsBufferBytes: '',
        exportEventsBufferSeconds: '  ',
        exportEventsToIgnore: null,
      }),
    ).toEqual({ maxBytes: 1_048_576, maxAgeMs: 10_000, ignoredEvents: new Set(), warnings: [] })
  })

  it('falls back to the default for an unusable value and says so', () => {
    const settings = exportBufferSettings({
      exportEventsBufferBytes: 'lots',
      exportEventsBufferSeconds: true,
    })
    expect(settings.maxBytes).toBe(1_048_576)
    expect(settings.maxAgeMs).toBe(10_000)
    expect(settings.warnings).toEqual([
      'exportEventsBufferBytes "lots" is not a number; using the default 1048576',
      'exportEventsBufferSeconds true is not a number; using the default 10',
    ])
  })

  it('clamps out-of-range values to 1 B–100 MiB and 1–600 s and says so', () => {
    const high = exportBufferSettings({ exportEventsBufferBytes: '1e12', exportEventsBufferSeconds: '3600' })
    expect(high.maxBytes).toBe(EXPORT_BUFFER_MAX_BYTES)
    expect(high.maxAgeMs).toBe(600_000)
    expect(high.warnings).toEqual([
      'exportEventsBufferBytes 1000000000000 is outside 1–104857600; using 104857600',
      'exportEventsBufferSeconds 3600 is outside 1–600; using 600',
    ])
    const low = exportBufferSettings({ exportEventsBufferBytes: '0', exportEventsBufferSeconds: '-5' })
    expect(low.maxBytes).toBe(1)
    expect(low.maxAgeMs).toBe(1000)
    expect(low.warnings).toHaveLength(2)
  })

  it('reads exportEventsToIgnore as a trimmed comma list, skipping empty entries', () => {
    const { ignoredEvents } = exportBufferSettings({
      exportEventsToIgnore: ' $pageview ,$autocapture,, ,my event ',
    })
    expect([...ignoredEvents]).toEqual(['$pageview', '$autocapture', 'my event'])
    expect(ignoredEvents.has('$pageview')).toBe(true)
    expect(ignoredEvents.has('$identify')).toBe(false)
  })

  it('accepts exportEventsToIgnore as a list and warns about other shapes', () => {
    expect([...exportBufferSettings({ exportEventsToIgnore: ['a', ' b ', 3] }).ignoredEvents]).toEqual([
      'a',
      'b',
    ])
    const settings = exportBufferSettings({ exportEventsToIgnore: { a: 1 } })
    expect(settings.ignoredEvents.size).toBe(0)
    expect(settings.warnings).toEqual([
      'exportEventsToIgnore must be a comma-separated list of event names; ignoring it',
    ])
  })
})

describe('ExportBuffer', () => {
  const make = (maxBytes = 100, maxAgeMs = 10_000) => new ExportBuffer<string>({ maxBytes, maxAgeMs })

  it('buffers items under the byte limit and reports size and bytes', () => {
    const buffer = make()
    expect(buffer.add('a', 30, T0)).toEqual([])
    expect(buffer.add('b', 30, T0 + 1)).toEqual([])
    expect(buffer.size).toBe(2)
    expect(buffer.bytes).toBe(60)
  })

  it('fills up to exactly the limit without flushing', () => {
    const buffer = make()
    buffer.add('a', 60, T0)
    expect(buffer.add('b', 40, T0)).toEqual([])
    expect(buffer.bytes).toBe(100)
  })

  it('flushes what is buffered before an item that would pass the limit, then buffers that item', () => {
    const buffer = make()
    buffer.add('a', 60, T0)
    buffer.add('b', 30, T0)
    expect(buffer.add('c', 11, T0 + 5)).toEqual([['a', 'b']])
    expect(buffer.size).toBe(1)
    expect(buffer.bytes).toBe(11)
    expect(buffer.nextDeadline()).toBe(T0 + 5 + 10_000)
  })

  it('sends an item larger than the limit alone, right away, after what was buffered', () => {
    const buffer = make()
    buffer.add('a', 10, T0)
    expect(buffer.add('huge', 101, T0)).toEqual([['a'], ['huge']])
    expect(buffer.size).toBe(0)
    expect(buffer.bytes).toBe(0)
    expect(buffer.nextDeadline()).toBeNull()
  })

  it('sends an oversized item alone when the buffer is empty, and keeps buffering afterwards', () => {
    const buffer = make()
    expect(buffer.add('huge', 5000, T0)).toEqual([['huge']])
    expect(buffer.add('b', 10, T0)).toEqual([])
    expect(buffer.drain()).toEqual([['b']])
  })

  it('treats an item of exactly the limit as normal: it flushes the buffer and waits', () => {
    const buffer = make()
    buffer.add('a', 1, T0)
    expect(buffer.add('full', 100, T0)).toEqual([['a']])
    expect(buffer.size).toBe(1)
  })

  it('is due when the oldest item reaches the age limit, not before', () => {
    const buffer = make()
    buffer.add('a', 1, T0)
    buffer.add('b', 1, T0 + 4000)
    expect(buffer.nextDeadline()).toBe(T0 + 10_000)
    expect(buffer.due(T0 + 9_999)).toEqual([])
    expect(buffer.due(T0 + 10_000)).toEqual([['a', 'b']])
    expect(buffer.due(T0 + 20_000)).toEqual([])
    expect(buffer.nextDeadline()).toBeNull()
  })

  it('counts age from the first item after a flush, not from the buffer’s creation', () => {
    const buffer = make()
    buffer.add('a', 1, T0)
    buffer.due(T0 + 10_000)
    buffer.add('b', 1, T0 + 15_000)
    expect(buffer.nextDeadline()).toBe(T0 + 25_000)
    expect(buffer.due(T0 + 24_999)).toEqual([])
  })

  it('flushes an overdue buffer before adding, so the new item starts a fresh batch', () => {
    const buffer = make()
    buffer.add('a', 1, T0)
    expect(buffer.add('b', 1, T0 + 12_000)).toEqual([['a']])
    expect(buffer.nextDeadline()).toBe(T0 + 22_000)
  })

  it('can flush an overdue buffer and an oversized item in one call, in order', () => {
    const buffer = make()
    buffer.add('a', 1, T0)
    expect(buffer.add('huge', 500, T0 + 10_000)).toEqual([['a'], ['huge']])
  })

  it('drains everything on teardown, and nothing when empty', () => {
    const buffer = make()
    expect(buffer.drain()).toEqual([])
    buffer.add('a', 1, T0)
    buffer.add('b', 1, T0)
    expect(buffer.drain()).toEqual([['a', 'b']])
    expect(buffer.drain()).toEqual([])
    expect(buffer.size).toBe(0)
    expect(buffer.nextDeadline()).toBeNull()
  })

  it('keeps every item exactly once and in order across size, age and drain flushes', () => {
    const buffer = make(10, 1000)
    const batches: string[][] = []
    const sizes = [3, 4, 2, 12, 5, 5, 1, 9, 0, 3]
    sizes.forEach((size, i) => {
      batches.push(...buffer.add(`e${i}`, size, T0 + i * 300))
      batches.push(...buffer.due(T0 + i * 300 + 150))
    })
    batches.push(...buffer.drain())
    expect(batches.flat()).toEqual(sizes.map((_, i) => `e${i}`))
    for (const batch of batches) expect(batch.length).toBeGreaterThan(0)
  })

  it('rejects bad sizes, times and options', () => {
    const buffer = make()
    expect(() => buffer.add('a', -1, T0)).toThrow(RangeError)
    expect(() => buffer.add('a', Number.NaN, T0)).toThrow(RangeError)
    expect(() => buffer.add('a', 1, Number.NaN)).toThrow(RangeError)
    expect(() => buffer.due(Number.POSITIVE_INFINITY)).toThrow(RangeError)
    expect(() => new ExportBuffer({ maxBytes: 0, maxAgeMs: 1 })).toThrow(RangeError)
    expect(() => new ExportBuffer({ maxBytes: 1, maxAgeMs: Number.NaN })).toThrow(RangeError)
    expect(buffer.size).toBe(0)
  })

  it('takes its limits from exportBufferSettings', () => {
    const buffer = new ExportBuffer<number>(exportBufferSettings({ exportEventsBufferBytes: '10' }))
    buffer.add(1, 6, T0)
    expect(buffer.add(2, 6, T0)).toEqual([[1]])
    expect(buffer.nextDeadline()).toBe(T0 + 10_000)
  })
})
