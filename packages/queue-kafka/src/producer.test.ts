import { describe, expect, it, vi } from 'vitest'
import { connect } from './connection.js'
import { createKafkajsProducerSession } from './producer.js'
import { chunkRecords } from './wire.js'

describe('chunkRecords', () => {
  it('keeps every record, in order, in requests under the byte limit', () => {
    const records = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(100) }))
    const chunks = chunkRecords(records, 400)
    expect(chunks.map((chunk) => chunk.length)).toEqual([2, 2, 2, 2, 2])
    expect(chunks.flat().map((m) => m.record.key)).toEqual(records.map((r) => r.key))
  })

  it('sends a record larger than the limit alone', () => {
    const chunks = chunkRecords(
      [
        { key: null, value: 'small' },
        { key: null, value: 'y'.repeat(1_000), headers: { h: 'v' } },
        { key: 'k', value: 'small', headers: {} },
      ],
      100,
    )
    expect(chunks.map((chunk) => chunk.length)).toEqual([1, 1, 1])
    expect(chunks[1]?.[0]?.record.headers).toEqual({ h: 'v' })
    expect(chunkRecords([])).toEqual([])
  })
})

describe('createKafkajsProducerSession', () => {
  it("chooses kafkajs's partitioner explicitly, so kafkajs logs no default-partitioner warning", async () => {
    const lines: string[] = []
    vi.spyOn(console, 'log').mockImplementation((line: string) => lines.push(line))
    vi.spyOn(console, 'error').mockImplementation((line: string) => lines.push(line))
    try {
      const connection = connect(
        { brokers: '127.0.0.1:1', logLevel: 'warn', retries: 0, connectionTimeoutMs: 200 },
        (m) => new Error(m),
      )
      const session = createKafkajsProducerSession(connection)
      await expect(session.send('t', [{ key: null, value: 'v' }])).rejects.toThrow()
      await session.close()
      // kafkajs did log (the failed connection), just not about the partitioner.
      expect(lines.length).toBeGreaterThan(0)
      expect(lines.filter((line) => line.includes('partitioner'))).toEqual([])
    } finally {
      vi.restoreAllMocks()
    }
  })
})
