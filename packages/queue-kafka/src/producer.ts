import kafkajs, { type Message, type Producer } from 'kafkajs'
import type { KafkaConnection } from './connection.js'

/**
 * Bytes of record data per produce request. Kafka limits a partition's record batch to
 * `message.max.bytes` (1 MiB by default); staying well under it keeps large produce calls from
 * failing as a whole.
 */
export const MAX_REQUEST_BYTES = 512 * 1024

/** A record as this package produces it. */
export interface OutgoingRecord {
  key: string | null
  value: string
  headers?: Readonly<Record<string, string>> | undefined
}

const recordBytes = (record: OutgoingRecord): number => {
  let bytes = Buffer.byteLength(record.value) + (record.key === null ? 0 : Buffer.byteLength(record.key)) + 32
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value)
  }
  return bytes
}

/**
 * Splits records into produce requests of at most `maxBytes` record data each (a single larger
 * record goes alone; the broker decides whether it fits), keeping their order.
 */
export function chunkRecords(records: readonly OutgoingRecord[], maxBytes = MAX_REQUEST_BYTES): Message[][] {
  const chunks: Message[][] = []
  let current: Message[] = []
  let bytes = 0
  for (const record of records) {
    const size = recordBytes(record)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    const message: Message = { key: record.key, value: record.value }
    if (record.headers && Object.keys(record.headers).length > 0) message.headers = { ...record.headers }
    current.push(message)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** One lazily connected kafkajs producer. */
export interface ProducerSession {
  /** Produces in order, one request after another, each acknowledged by all in-sync replicas. */
  send(topic: string, records: readonly OutgoingRecord[]): Promise<void>
  close(): Promise<void>
}

/**
 * Creates a producer session. Keys are placed with kafkajs's `DefaultPartitioner` (murmur2, the
 * Java client's placement), chosen explicitly so a key lands on the same partition whichever
 * client produced it, and so kafkajs has nothing to warn about.
 */
export function createProducerSession(connection: KafkaConnection): ProducerSession {
  let producer: Promise<Producer> | undefined

  const connected = (): Promise<Producer> => {
    producer ??= (async () => {
      const created = connection.kafka.producer({
        createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      })
      await created.connect()
      return created
    })()
    producer.catch(() => {
      producer = undefined
    })
    return producer
  }

  return {
    async send(topic, records) {
      if (records.length === 0) return
      const client = await connected()
      for (const messages of chunkRecords(records)) {
        await client.send({ topic, messages, acks: -1 })
      }
    },
    async close() {
      const pending = producer
      producer = undefined
      if (pending) await (await pending.catch(() => undefined))?.disconnect()
    },
  }
}
