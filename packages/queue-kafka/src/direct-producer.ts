import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'
import { type KafkaConnection, type KafkaConnectionOptions, lazyClient } from './connection.js'
import type { ProducerSession } from './producer.js'
import {
  chunkRecords,
  decodeProduceResponse,
  encodeProduceRequest,
  type MeasuredRecord,
  type PartitionRecords,
  partitionForKey,
} from './wire.js'

/** Kafka's error codes a Produce answer may carry, with kafkajs's names and retry flags. */
const PRODUCE_ERRORS: Record<number, { type: string; retriable: boolean }> = {
  2: { type: 'CORRUPT_MESSAGE', retriable: true },
  3: { type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true },
  5: { type: 'LEADER_NOT_AVAILABLE', retriable: true },
  6: { type: 'NOT_LEADER_FOR_PARTITION', retriable: true },
  7: { type: 'REQUEST_TIMED_OUT', retriable: true },
  10: { type: 'MESSAGE_TOO_LARGE', retriable: false },
  13: { type: 'NETWORK_EXCEPTION', retriable: true },
  18: { type: 'RECORD_LIST_TOO_LARGE', retriable: false },
  19: { type: 'NOT_ENOUGH_REPLICAS', retriable: true },
  20: { type: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', retriable: true },
  29: { type: 'TOPIC_AUTHORIZATION_FAILED', retriable: false },
  31: { type: 'CLUSTER_AUTHORIZATION_FAILED', retriable: false },
  35: { type: 'UNSUPPORTED_VERSION', retriable: false },
  74: { type: 'FENCED_LEADER_EPOCH', retriable: true },
  75: { type: 'UNKNOWN_LEADER_EPOCH', retriable: true },
  87: { type: 'INVALID_RECORD', retriable: false },
}

/** An error shaped as kafkajs's, so `classifyKafkaError` reads it as it reads theirs. */
const kafkaError = (name: string, message: string, fields: { type?: string; retriable: boolean }) =>
  Object.assign(new Error(message), { name, ...fields })

const protocolError = (code: number, topic: string, partition: number) => {
  const known = PRODUCE_ERRORS[code] ?? { type: `KAFKA_ERROR_${code}`, retriable: false }
  return kafkaError(
    'KafkaJSProtocolError',
    `producing to ${topic}[${partition}] failed: ${known.type}`,
    known,
  )
}

/** One connection to a broker: size-prefixed requests, answers matched by correlation id. */
class BrokerConnection {
  private readonly waiting = new Map<
    number,
    { resolve: (body: Buffer) => void; reject: (e: Error) => void }
  >()
  private received: Buffer = Buffer.alloc(0)
  private failure: Error | undefined

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    private readonly requestTimeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.read(chunk))
    socket.on('error', (error) => this.fail(`the connection to ${address} failed: ${error.message}`))
    socket.on('close', () => this.fail(`the connection to ${address} closed`))
  }

  static open(host: string, port: number, options: KafkaConnectionOptions): Promise<BrokerConnection> {
    const address = `${host}:${port}`
    const timeoutMs = options.connectionTimeoutMs ?? 3_000
    return new Promise((resolve, reject) => {
      const ssl = options.ssl
      const socket = ssl
        ? connectTls({ host, port, servername: host, ...(ssl === true ? {} : ssl) })
        : connectTcp({ host, port })
      socket.setNoDelay(true)
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          kafkaError('KafkaJSConnectionError', `connecting to ${address} timed out`, { retriable: true }),
        )
      }, timeoutMs)
      socket.once(ssl ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        resolve(new BrokerConnection(socket, address, options.requestTimeoutMs ?? 30_000))
      })
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(
          kafkaError('KafkaJSConnectionError', `connecting to ${address} failed: ${error.message}`, {
            retriable: true,
          }),
        )
      })
    })
  }

  get usable(): boolean {
    return this.failure === undefined
  }

  /** Sends a request whose first bytes after the size are its header with `correlationId`. */
  request(correlationId: number, bytes: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          `${this.address} did not answer within ${this.requestTimeoutMs} ms`,
          'KafkaJSRequestTimeoutError',
        )
      }, this.requestTimeoutMs)
      this.waiting.set(correlationId, {
        resolve: (body) => {
          clearTimeout(timer)
          resolve(body)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.socket.write(bytes)
    })
  }

  close() {
    this.fail(`the connection to ${this.address} was closed`)
  }

  private read(chunk: Buffer) {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk])
    while (this.received.length >= 8) {
      const size = this.received.readInt32BE(0)
      if (this.received.length < size + 4) return
      const correlationId = this.received.readInt32BE(4)
      const body = this.received.subarray(8, size + 4)
      this.received = this.received.subarray(size + 4)
      const waiter = this.waiting.get(correlationId)
      this.waiting.delete(correlationId)
      waiter?.resolve(body)
    }
  }

  private fail(message: string, name = 'KafkaJSConnectionError') {
    this.failure ??= kafkaError(name, message, { retriable: true })
    this.socket.destroy()
    for (const waiter of this.waiting.values()) waiter.reject(this.failure)
    this.waiting.clear()
  }
}

/** Where a topic's partitions are led, and how to reach their leaders. */
interface Layout {
  partitions: number
  /** Leader node id by partition; -1 while a partition has none. */
  leaders: number[]
  brokers: Map<number, { host: string; port: number }>
}

/**
 * A {@link ProducerSession} that writes Produce requests itself: kafkajs (through its admin client)
 * finds partition leaders, and records go to them as record batches encoded in one pass
 * (`wire.ts`), over a connection per broker. Placement is kafkajs's and the Java client's (murmur2
 * of the key); sends are acknowledged by all in-sync replicas, and partitions that failed with a
 * retriable error are sent again after the leaders are looked up anew, up to `retries` times.
 * Without SASL only: {@link createProducerSession} picks kafkajs's producer when SASL is set.
 */
export function createDirectProducerSession(
  connection: KafkaConnection,
  options: KafkaConnectionOptions,
): ProducerSession {
  const clientId = options.clientId ?? 'sluice'
  const retries = options.retries ?? 5
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000
  const admin = lazyClient(() => connection.kafka.admin())
  const layouts = new Map<string, Layout>()
  const connections = new Map<number, Promise<BrokerConnection>>()
  let correlationId = 0
  let roundRobin = 0
  let closed = false

  const layoutOf = async (topic: string, refresh: boolean): Promise<Layout> => {
    const known = layouts.get(topic)
    if (known && !refresh) return known
    const client = await admin.get()
    const [{ topics }, cluster] = await Promise.all([
      client.fetchTopicMetadata({ topics: [topic] }),
      client.describeCluster(),
    ])
    const partitions = topics[0]?.partitions ?? []
    const leaders: number[] = []
    for (const { partitionId, leader } of partitions) leaders[partitionId] = leader
    const layout: Layout = {
      partitions: partitions.length,
      leaders,
      brokers: new Map(cluster.brokers.map(({ nodeId, host, port }) => [nodeId, { host, port }])),
    }
    layouts.set(topic, layout)
    return layout
  }

  const connectionTo = async (nodeId: number, layout: Layout): Promise<BrokerConnection> => {
    const open = connections.get(nodeId)
    if (open) {
      const existing = await open.catch(() => undefined)
      if (existing?.usable) return existing
    }
    const broker = layout.brokers.get(nodeId)
    if (!broker) {
      throw kafkaError('KafkaJSBrokerNotFound', `broker ${nodeId} is not in the cluster's metadata`, {
        retriable: true,
      })
    }
    const opening = BrokerConnection.open(broker.host, broker.port, options)
    connections.set(nodeId, opening)
    opening.catch(() => connections.delete(nodeId))
    return opening
  }

  /** Sends each leader its partitions' records; resolves to the partitions that failed, with why. */
  const sendOnce = async (
    topic: string,
    byPartition: Map<number, MeasuredRecord[]>,
    layout: Layout,
  ): Promise<Map<number, Error>> => {
    const failed = new Map<number, Error>()
    const byLeader = new Map<number, PartitionRecords[]>()
    for (const [partition, records] of byPartition) {
      const leader = layout.leaders[partition] ?? -1
      if (leader < 0) {
        failed.set(partition, protocolError(5, topic, partition))
        continue
      }
      const list = byLeader.get(leader) ?? []
      list.push({ partition, records })
      byLeader.set(leader, list)
    }
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        try {
          const broker = await connectionTo(leader, layout)
          const id = correlationId++ & 0x7fffffff
          const request = encodeProduceRequest({
            correlationId: id,
            clientId,
            topic,
            partitions,
            acks: -1,
            timeoutMs: requestTimeoutMs,
            timestamp: Date.now(),
          })
          for (const result of decodeProduceResponse(await broker.request(id, request))) {
            if (result.errorCode !== 0)
              failed.set(result.partition, protocolError(result.errorCode, topic, result.partition))
          }
        } catch (error) {
          for (const { partition } of partitions) failed.set(partition, error as Error)
        }
      }),
    )
    return failed
  }

  const sendChunk = async (topic: string, records: readonly MeasuredRecord[]) => {
    let layout = await layoutOf(topic, false)
    if (layout.partitions === 0) throw protocolError(3, topic, -1)
    let pending = new Map<number, MeasuredRecord[]>()
    for (const measured of records) {
      const { key } = measured.record
      const partition =
        key === null ? roundRobin++ % layout.partitions : partitionForKey(key, layout.partitions)
      const list = pending.get(partition)
      if (list) list.push(measured)
      else pending.set(partition, [measured])
    }
    for (let attempt = 0; ; attempt++) {
      const failed = await sendOnce(topic, pending, layout)
      if (failed.size === 0) return
      const errors = [...failed.values()]
      const fatal = errors.find((error) => (error as { retriable?: boolean }).retriable !== true)
      if (fatal) throw fatal
      if (attempt >= retries || closed) throw errors[0]
      pending = new Map([...pending].filter(([partition]) => failed.has(partition)))
      await new Promise((resolve) => setTimeout(resolve, Math.min(300 * 2 ** attempt, 5_000)))
      layout = await layoutOf(topic, true)
    }
  }

  return {
    async send(topic, records) {
      for (const chunk of chunkRecords(records)) await sendChunk(topic, chunk)
    },
    async close() {
      closed = true
      const open = [...connections.values()]
      connections.clear()
      for (const opening of open) (await opening.catch(() => undefined))?.close()
      await admin.close()
    },
  }
}
