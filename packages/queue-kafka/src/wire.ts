// The bytes of Kafka's Produce request (v3, record batches of magic 2) and of its response,
// written straight into one buffer per request. kafkajs builds every record with a fresh encoder
// that grows by copying and checksums byte by byte; that alone cost ~12 µs of CPU per record.

/** Kafka's API key of Produce. */
const PRODUCE_API_KEY = 0
/** The Produce version written here: the first with record batches, understood by Kafka 0.11 to 4.x. */
const PRODUCE_VERSION = 3

/** A record as this package produces it: key, value and headers as text, sent as UTF-8. */
export interface OutgoingRecord {
  key: string | null
  value: string
  headers?: Readonly<Record<string, string>> | undefined
}

/**
 * Bytes of record data per produce request. Kafka limits a partition's record batch to
 * `message.max.bytes` (1 MiB by default); staying well under it keeps large produce calls from
 * failing as a whole.
 */
export const MAX_REQUEST_BYTES = 512 * 1024

/** What a broker answered for one partition of a Produce request. */
export interface PartitionResult {
  topic: string
  partition: number
  /** Kafka's error code; 0 when the records were appended. */
  errorCode: number
}

const CRC32C_TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256))
  const base = tables[0] as Int32Array
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    base[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = base[n] as number
    for (let t = 1; t < 8; t++) {
      c = (base[c & 0xff] as number) ^ (c >>> 8)
      ;(tables[t] as Int32Array)[n] = c
    }
  }
  return tables as [
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
  ]
})()

/** CRC-32C (Castagnoli) of `bytes[start, end)`, eight bytes per step. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES
  let crc = -1
  let i = start
  for (; i + 8 <= end; i += 8) {
    const low =
      crc ^
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24))
    crc =
      (t7[low & 0xff] as number) ^
      (t6[(low >>> 8) & 0xff] as number) ^
      (t5[(low >>> 16) & 0xff] as number) ^
      (t4[low >>> 24] as number) ^
      (t3[bytes[i + 4] as number] as number) ^
      (t2[bytes[i + 5] as number] as number) ^
      (t1[bytes[i + 6] as number] as number) ^
      (t0[bytes[i + 7] as number] as number)
  }
  for (; i < end; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

/**
 * The partition Kafka's Java client (and kafkajs's DefaultPartitioner) places `key` in: murmur2
 * of its UTF-8 bytes, made positive, modulo the partition count.
 */
export function partitionForKey(key: string, partitions: number): number {
  const data = Buffer.from(key)
  const m = 0x5bd1e995
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  const tail = length & 3
  if (tail === 3) h ^= (data[whole + 2] as number) << 16
  if (tail >= 2) h ^= (data[whole + 1] as number) << 8
  if (tail >= 1) h = Math.imul(h ^ (data[whole] as number), m)
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return (h & 0x7fffffff) % partitions
}

/** Bytes of `n` as a zigzag varint (Kafka's record fields). */
const varintSize = (n: number): number => {
  let z = (n << 1) ^ (n >> 31)
  let size = 1
  while (z >>> 7 !== 0) {
    z >>>= 7
    size++
  }
  return size
}

/** A record with the UTF-8 sizes of its parts, measured once before it is written. */
export interface MeasuredRecord {
  record: OutgoingRecord
  /** Bytes of the key; -1 for none. */
  key: number
  value: number
  headers: [name: string, nameBytes: number, value: string, valueBytes: number][]
  /** The record's bytes after its length prefix, but for its offset delta (known in its batch). */
  body: number
}

export const measureRecord = (record: OutgoingRecord): MeasuredRecord => {
  const key = record.key === null ? -1 : Buffer.byteLength(record.key)
  const value = Buffer.byteLength(record.value)
  const headers: MeasuredRecord['headers'] = []
  let body = 1 + 1 + varintSize(key) + Math.max(key, 0) + varintSize(value) + value
  for (const [name, text] of Object.entries(record.headers ?? {})) {
    const nameBytes = Buffer.byteLength(name)
    const textBytes = Buffer.byteLength(text)
    headers.push([name, nameBytes, text, textBytes])
    body += varintSize(nameBytes) + nameBytes + varintSize(textBytes) + textBytes
  }
  body += varintSize(headers.length)
  return { record, key, value, headers, body }
}

/** Bytes a record counts for against a request's limit: its text, plus a fixed allowance. */
const recordBytes = ({ key, value, headers }: MeasuredRecord): number => {
  let bytes = value + Math.max(key, 0) + 32
  for (const [, nameBytes, , valueBytes] of headers) bytes += nameBytes + valueBytes
  return bytes
}

/**
 * Splits records into produce requests of at most `maxBytes` record data each (a single larger
 * record goes alone; the broker decides whether it fits), keeping their order. Each record is
 * measured here, once, for the request that writes it.
 */
export function chunkRecords(
  records: readonly OutgoingRecord[],
  maxBytes = MAX_REQUEST_BYTES,
): MeasuredRecord[][] {
  const chunks: MeasuredRecord[][] = []
  let current: MeasuredRecord[] = []
  let bytes = 0
  for (const record of records) {
    const measured = measureRecord(record)
    const size = recordBytes(measured)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(measured)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** One partition's records in a Produce request. */
export interface PartitionRecords {
  partition: number
  records: readonly MeasuredRecord[]
}

/** Writes into one preallocated buffer. */
class Writer {
  offset = 0
  constructor(readonly buffer: Buffer) {}
  int8(n: number) {
    this.buffer[this.offset++] = n & 0xff
  }
  int16(n: number) {
    this.buffer.writeInt16BE(n, this.offset)
    this.offset += 2
  }
  int32(n: number) {
    this.buffer.writeInt32BE(n, this.offset)
    this.offset += 4
  }
  /** A 64-bit integer no larger than 2^53 in magnitude. */
  int64(n: number) {
    this.buffer.writeInt32BE(Math.floor(n / 2 ** 32), this.offset)
    this.buffer.writeUInt32BE(n >>> 0, this.offset + 4)
    this.offset += 8
  }
  varint(n: number) {
    let z = ((n << 1) ^ (n >> 31)) >>> 0
    while (z >>> 7 !== 0) {
      this.buffer[this.offset++] = (z & 0x7f) | 0x80
      z >>>= 7
    }
    this.buffer[this.offset++] = z
  }
  /** A string with an int16 length; null as -1. */
  string(text: string | null) {
    if (text === null) return this.int16(-1)
    const bytes = this.buffer.write(text, this.offset + 2)
    this.int16(bytes)
    this.offset += bytes
  }
  utf8(text: string, bytes: number) {
    this.buffer.write(text, this.offset, bytes)
    this.offset += bytes
  }
}

/** Bytes of a string with an int16 length prefix. */
const stringSize = (text: string) => 2 + Buffer.byteLength(text)

/** Fixed bytes of a record batch before its records (from base offset to the record count). */
const BATCH_HEADER = 61

/**
 * A whole Produce request, size prefix included: `partitions` of `topic`, each as one record
 * batch stamped `timestamp`, acknowledged as `acks` says within `timeoutMs`.
 */
export function encodeProduceRequest(request: {
  correlationId: number
  clientId: string
  topic: string
  partitions: readonly PartitionRecords[]
  acks: number
  timeoutMs: number
  timestamp: number
}): Buffer {
  let size = 4 + 2 + 2 + 4 + stringSize(request.clientId) + 2 + 2 + 4 + 4 + stringSize(request.topic) + 4
  for (const { records } of request.partitions) {
    size += 4 + 4 + BATCH_HEADER
    records.forEach((record, index) => {
      const body = record.body + varintSize(index)
      size += varintSize(body) + body
    })
  }
  const out = new Writer(Buffer.allocUnsafe(size))
  out.int32(size - 4)
  out.int16(PRODUCE_API_KEY)
  out.int16(PRODUCE_VERSION)
  out.int32(request.correlationId)
  out.string(request.clientId)
  out.string(null) // transactional id
  out.int16(request.acks)
  out.int32(request.timeoutMs)
  out.int32(1)
  out.string(request.topic)
  out.int32(request.partitions.length)
  for (const { partition, records } of request.partitions) {
    out.int32(partition)
    const sizeAt = out.offset
    out.int32(0) // the batch's size, known once written
    const batchStart = out.offset
    out.int64(0) // base offset, assigned by the broker
    out.int32(0) // batch length, known once written
    out.int32(-1) // partition leader epoch: none from a producer
    out.int8(2) // magic
    const crcAt = out.offset
    out.int32(0)
    const crcFrom = out.offset
    out.int16(0) // attributes: no compression, create time, not transactional
    out.int32(records.length - 1) // last offset delta
    out.int64(request.timestamp)
    out.int64(request.timestamp)
    out.int64(-1) // producer id: not idempotent
    out.int16(-1) // producer epoch
    out.int32(-1) // base sequence
    out.int32(records.length)
    records.forEach(({ record, key, value, headers, body }, index) => {
      out.varint(body + varintSize(index))
      out.int8(0) // attributes
      out.varint(0) // timestamp delta
      out.varint(index) // offset delta
      out.varint(key)
      if (record.key !== null) out.utf8(record.key, key)
      out.varint(value)
      out.utf8(record.value, value)
      out.varint(headers.length)
      for (const [name, nameBytes, text, textBytes] of headers) {
        out.varint(nameBytes)
        out.utf8(name, nameBytes)
        out.varint(textBytes)
        out.utf8(text, textBytes)
      }
    })
    const batchEnd = out.offset
    out.buffer.writeInt32BE(batchEnd - batchStart, sizeAt)
    out.buffer.writeInt32BE(batchEnd - batchStart - 12, batchStart + 8)
    out.buffer.writeUInt32BE(crc32c(out.buffer, crcFrom, batchEnd), crcAt)
  }
  if (out.offset !== size) throw new Error(`Produce request measured ${size} bytes but wrote ${out.offset}`)
  return out.buffer
}

/** Reads a Produce (v3) response, its size prefix and correlation id already taken off. */
export function decodeProduceResponse(body: Buffer): PartitionResult[] {
  let offset = 0
  const int16 = () => {
    const n = body.readInt16BE(offset)
    offset += 2
    return n
  }
  const int32 = () => {
    const n = body.readInt32BE(offset)
    offset += 4
    return n
  }
  const results: PartitionResult[] = []
  const topics = int32()
  for (let t = 0; t < topics; t++) {
    const length = int16()
    const topic = body.toString('utf8', offset, offset + length)
    offset += length
    const partitions = int32()
    for (let p = 0; p < partitions; p++) {
      const partition = int32()
      const errorCode = int16()
      offset += 16 // base offset, log append time
      results.push({ topic, partition, errorCode })
    }
  }
  return results
}
