import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import kafkajs from 'kafkajs'
import { describe, expect, it } from 'vitest'
import {
  crc32c,
  decodeProduceResponse,
  encodeProduceRequest,
  measureRecord,
  partitionForKey,
} from './wire.js'

// kafkajs's own decoders and checksum, to check the bytes against an independent implementation.
const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder.js')
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js')
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js')

describe('crc32c', () => {
  it("matches CRC-32C's check value and kafkajs's checksum on any length", () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    for (const length of [0, 1, 7, 8, 9, 63, 1_000]) {
      const bytes = randomBytes(length)
      expect(crc32c(bytes)).toBe(kafkajsCrc32c(bytes))
    }
    const framed = Buffer.concat([Buffer.from('xx'), Buffer.from('123456789'), Buffer.from('yy')])
    expect(crc32c(framed, 2, 11)).toBe(0xe3069283)
  })
})

describe('partitionForKey', () => {
  it("places every key where kafkajs's DefaultPartitioner (the Java client's) does", () => {
    const partitioner = kafkajs.Partitioners.DefaultPartitioner()
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      '1:user-42',
      'ünïcødé-€',
      ...Array.from({ length: 200 }, (_, i) => `2:${i}`),
    ]
    for (const partitions of [1, 3, 8, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }))
      for (const key of keys) {
        expect(partitionForKey(key, partitions)).toBe(
          partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }),
        )
      }
    }
  })
})

/** The request's parts after its header, read back: each partition's id and record batch. */
async function readBatches(request: Buffer) {
  const decoder = new Decoder(request)
  const size = decoder.readInt32()
  expect(size).toBe(request.length - 4)
  expect(decoder.readInt16()).toBe(0) // Produce
  expect(decoder.readInt16()).toBe(3)
  const correlationId = decoder.readInt32()
  const clientId = decoder.readString()
  expect(decoder.readString()).toBeNull() // transactional id
  const acks = decoder.readInt16()
  const timeoutMs = decoder.readInt32()
  expect(decoder.readInt32()).toBe(1)
  const topic = decoder.readString()
  const partitions = []
  for (let count = decoder.readInt32(); count > 0; count--) {
    const partition = decoder.readInt32()
    const batchBytes = decoder.readBytes()
    const batch = await decodeRecordBatch(new Decoder(batchBytes))
    // The checksum covers the batch from its attributes to its end.
    expect(batchBytes.readUInt32BE(17)).toBe(crc32c(batchBytes, 21))
    partitions.push({ partition, batch })
  }
  return { correlationId, clientId, acks, timeoutMs, topic, partitions }
}

describe('encodeProduceRequest', () => {
  it('writes a Produce v3 request whose record batches read back with every key, value and header', async () => {
    const request = encodeProduceRequest({
      correlationId: 7,
      clientId: 'sluice',
      topic: 'events',
      acks: -1,
      timeoutMs: 30_000,
      timestamp: 1_700_000_000_123,
      partitions: [
        {
          partition: 2,
          records: [
            { key: '1:a', value: '{"event":"x"}' },
            { key: null, value: 'ünïcødé €', headers: { 'sluice-reason': 'not JSON', h: '' } },
          ].map(measureRecord),
        },
        { partition: 5, records: [{ key: 'k', value: 'v'.repeat(300) }].map(measureRecord) },
      ],
    })
    const read = await readBatches(request)
    expect(read).toMatchObject({
      correlationId: 7,
      clientId: 'sluice',
      acks: -1,
      timeoutMs: 30_000,
      topic: 'events',
    })
    expect(read.partitions.map((p) => p.partition)).toEqual([2, 5])
    const [first, second] = read.partitions.map((p) => p.batch)
    expect(first.firstTimestamp).toBe('1700000000123')
    expect(first.records.map((r: { offset: string }) => r.offset)).toEqual(['0', '1'])
    expect(
      first.records.map((r: { key: Buffer | null; value: Buffer; headers: Record<string, Buffer> }) => ({
        key: r.key?.toString() ?? null,
        value: r.value.toString(),
        headers: Object.fromEntries(
          Object.entries(r.headers).map(([name, value]) => [name, value.toString()]),
        ),
      })),
    ).toEqual([
      { key: '1:a', value: '{"event":"x"}', headers: {} },
      { key: null, value: 'ünïcødé €', headers: { 'sluice-reason': 'not JSON', h: '' } },
    ])
    expect(second.records[0].value.toString()).toBe('v'.repeat(300))
  })
})

describe('decodeProduceResponse', () => {
  it("reads each partition's error code", () => {
    const body = Buffer.alloc(4 + 2 + 6 + 4 + 2 * (4 + 2 + 16) + 4)
    let offset = body.writeInt32BE(1, 0)
    offset = body.writeInt16BE(6, offset)
    offset += body.write('events', offset)
    offset = body.writeInt32BE(2, offset)
    offset = body.writeInt32BE(0, offset)
    offset = body.writeInt16BE(0, offset) + 16
    offset = body.writeInt32BE(3, offset)
    body.writeInt16BE(6, offset)
    expect(decodeProduceResponse(body)).toEqual([
      { topic: 'events', partition: 0, errorCode: 0 },
      { topic: 'events', partition: 3, errorCode: 6 },
    ])
  })
})
