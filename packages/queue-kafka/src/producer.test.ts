import { describe, expect, it } from 'vitest'
import { chunkRecords } from './producer.js'

describe('chunkRecords', () => {
  it('keeps every record, in order, in requests under the byte limit', () => {
    const records = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(100) }))
    const chunks = chunkRecords(records, 400)
    expect(chunks.map((chunk) => chunk.length)).toEqual([2, 2, 2, 2, 2])
    expect(chunks.flat().map((m) => m.key)).toEqual(records.map((r) => r.key))
  })

  it('sends a record larger than the limit alone and copies headers only when there are some', () => {
    const chunks = chunkRecords(
      [
        { key: null, value: 'small' },
        { key: null, value: 'y'.repeat(1_000), headers: { h: 'v' } },
        { key: 'k', value: 'small', headers: {} },
      ],
      100,
    )
    expect(chunks.map((chunk) => chunk.length)).toEqual([1, 1, 1])
    expect(chunks[1]?.[0]?.headers).toEqual({ h: 'v' })
    expect(chunks[2]?.[0]).toEqual({ key: 'k', value: 'small' })
    expect(chunkRecords([])).toEqual([])
  })
})
