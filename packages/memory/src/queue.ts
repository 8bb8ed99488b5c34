import {
  type BatchHandler,
  type Clock,
  type ConsumeOptions,
  type QueueCapabilities,
  QueueError,
  type QueueMessage,
  type QueueRecord,
  type QueueSubscription,
  type QueueTransport,
  type TimerHandle,
} from '@sluice/core'
import { createSystemClock } from './clock.js'

/** Options of {@link createMemoryQueue}. */
export interface MemoryQueueOptions {
  /**
   * Time source for redelivery delays.
   * @default createSystemClock()
   */
  clock?: Clock
  /**
   * Partitions per topic. Keys hash onto partitions; each partition is worked by one consumer of a
   * group at a time, so this bounds how many consumers of one group get work at once.
   * @default 16
   */
  partitions?: number
  /**
   * How long the partitions of a rejected batch wait before the batch is delivered again. Keeps a
   * handler that keeps failing from spinning; other partitions are not held up meanwhile.
   * @default 100
   */
  redeliveryDelayMs?: number
  /**
   * Records a topic may hold that its slowest consumer group has not acknowledged (every record,
   * before a group consumes it). A produce that would pass it is refused, retryable, and nothing of
   * it is kept: a server whose pipeline falls behind answers "try again" instead of growing until
   * the process runs out of memory. A produce into an empty backlog is taken whatever its size.
   * @default 100000
   */
  maxWaitingRecords?: number
}

/** What the memory queue guarantees: everything but surviving a restart. */
export const memoryQueueCapabilities: QueueCapabilities = Object.freeze({
  orderedByKey: true,
  redelivers: true,
  sharedConsumption: true,
  durable: false,
})

const DEFAULT_MAX_BATCH_SIZE = 500
const DEFAULT_PARTITIONS = 16
const DEFAULT_REDELIVERY_DELAY_MS = 100
const DEFAULT_MAX_WAITING_RECORDS = 100_000
/** Acknowledged records are dropped from a partition log in chunks at least this large. */
const TRIM_CHUNK = 4096

interface StoredRecord {
  readonly id: string
  readonly key: string | null
  readonly value: string
  readonly headers: Readonly<Record<string, string>> | undefined
  readonly publishedAt: number
}

/** An append-only log; `base` is the offset of `records[0]` (acknowledged prefixes are trimmed). */
interface PartitionLog {
  records: StoredRecord[]
  base: number
}

/** One group's position in one partition. */
interface GroupPartition {
  /** Offset of the first record the group has not acknowledged. */
  committed: number
  /** A batch holding records of this partition is in flight (or waiting to be redelivered). */
  busy: boolean
  /** Delivery counts of records delivered more than once and not yet acknowledged, by offset. */
  attempts: Map<number, number> | undefined
}

interface Group {
  readonly partitions: GroupPartition[]
  readonly members: Consumer[]
}

interface Topic {
  readonly logs: PartitionLog[]
  readonly groups: Map<string, Group>
  /** Resolvers of idle consumers, called on anything that may give them work. */
  readonly waiters: Set<() => void>
  nextUnkeyed: number
}

interface Batch {
  readonly messages: QueueMessage[]
  /** Pairs of (partition, record count). */
  readonly taken: number[]
}

/**
 * Creates a queue transport in process memory: the reference implementation and the embedded
 * default. Topics are split into partitions by key hash; every consumer group keeps its own
 * position per partition; the consumers of a group divide the partitions between them (like Kafka),
 * and a partition is only ever in one batch at a time, so a key's records are handled in order.
 *
 * Nothing is durable. A partition keeps records until every group of the topic acknowledged them; a
 * group that first consumes a topic starts after the records every existing group acknowledged (at
 * the beginning when it is the first group), so records produced before any consumer are kept.
 *
 * @example
 * const queue = createMemoryQueue()
 * await queue.consume('events', { group: 'pipeline' }, async (batch) => handle(batch))
 * await queue.produce('events', [{ key: '2:user-1', value: '{"event":"$pageview"}' }])
 */
export function createMemoryQueue(options: MemoryQueueOptions = {}): QueueTransport {
  const clock = options.clock ?? createSystemClock()
  const partitionCount = options.partitions ?? DEFAULT_PARTITIONS
  const redeliveryDelayMs = options.redeliveryDelayMs ?? DEFAULT_REDELIVERY_DELAY_MS
  const maxWaitingRecords = options.maxWaitingRecords ?? DEFAULT_MAX_WAITING_RECORDS
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    throw invalid(`partitions must be a positive integer, got ${String(partitionCount)}`)
  }
  if (!Number.isFinite(redeliveryDelayMs) || redeliveryDelayMs < 0) {
    throw invalid(`redeliveryDelayMs must be a non-negative number, got ${String(redeliveryDelayMs)}`)
  }
  if (!Number.isInteger(maxWaitingRecords) || maxWaitingRecords < 1) {
    throw invalid(`maxWaitingRecords must be a positive integer, got ${String(maxWaitingRecords)}`)
  }

  const topics = new Map<string, Topic>()
  const consumers = new Set<Consumer>()
  let closed = false

  const assertOpen = (operation: string) => {
    if (closed) {
      throw new QueueError(`cannot ${operation}: this memory queue was closed — create a new one`, {
        retryable: false,
        code: 'queue.closed',
      })
    }
  }

  const topicFor = (name: string): Topic => {
    let topic = topics.get(name)
    if (!topic) {
      const logs: PartitionLog[] = []
      for (let p = 0; p < partitionCount; p++) logs.push({ records: [], base: 0 })
      topic = { logs, groups: new Map(), waiters: new Set(), nextUnkeyed: 0 }
      topics.set(name, topic)
    }
    return topic
  }

  return {
    capabilities: memoryQueueCapabilities,

    async produce(topicName, records) {
      assertOpen('produce')
      assertTopicName(topicName)
      for (let i = 0; i < records.length; i++) assertRecord(records[i], i)
      if (records.length === 0) return
      const topic = topicFor(topicName)
      const waiting = waitingRecords(topic)
      if (waiting > 0 && waiting + records.length > maxWaitingRecords) {
        throw new QueueError(
          `topic ${topicName} holds ${waiting} records not yet processed and takes at most ${maxWaitingRecords}: processing is behind, send these ${records.length} again shortly`,
          { retryable: true, code: 'queue.full' },
        )
      }
      const publishedAt = clock.now()
      for (const record of records) {
        const p =
          record.key === null ? topic.nextUnkeyed++ % partitionCount : hashKey(record.key) % partitionCount
        const log = topic.logs[p] as PartitionLog
        log.records.push({
          id: `${p}:${log.base + log.records.length}`,
          key: record.key,
          value: record.value,
          headers: record.headers === undefined ? undefined : { ...record.headers },
          publishedAt,
        })
      }
      wakeAll(topic)
    },

    async consume(topicName, consumeOptions, handler) {
      assertOpen('consume')
      assertTopicName(topicName)
      assertConsumeOptions(consumeOptions)
      if (typeof handler !== 'function') throw invalid('consume needs a handler function')
      const topic = topicFor(topicName)
      let group = topic.groups.get(consumeOptions.group)
      if (!group) {
        group = { partitions: startingPositions(topic), members: [] }
        topic.groups.set(consumeOptions.group, group)
      }
      const consumer = new Consumer(
        topic,
        group,
        handler,
        consumeOptions.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
        clock,
        redeliveryDelayMs,
        () => consumers.delete(consumer),
      )
      consumers.add(consumer)
      consumer.start()
      return { stop: () => consumer.stop() } satisfies QueueSubscription
    },

    async close() {
      closed = true
      await Promise.all([...consumers].map((consumer) => consumer.stop()))
      topics.clear()
    },
  }
}

/** Where a new group starts: after what every existing group acknowledged, else at the start. */
function startingPositions(topic: Topic): GroupPartition[] {
  return topic.logs.map((log, p) => {
    let committed = Number.POSITIVE_INFINITY
    for (const group of topic.groups.values()) {
      committed = Math.min(committed, (group.partitions[p] as GroupPartition).committed)
    }
    return { committed: Number.isFinite(committed) ? committed : log.base, busy: false, attempts: undefined }
  })
}

function wakeAll(topic: Topic): void {
  if (topic.waiters.size === 0) return
  const waiters = [...topic.waiters]
  topic.waiters.clear()
  for (const wake of waiters) wake()
}

/** Gives each member of a group the partitions `p` with `p % members === index`. */
function rebalance(topic: Topic, group: Group): void {
  const members = group.members
  for (const member of members) member.owned = []
  if (members.length > 0) {
    for (let p = 0; p < group.partitions.length; p++) members[p % members.length]?.owned.push(p)
  }
  wakeAll(topic)
}

/** Lets timers and I/O run between batches, so a consumer with a long backlog cannot starve them. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

class Consumer {
  owned: number[] = []
  private cursor = 0
  private stopped = false
  private loop: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private wake: (() => void) | undefined
  private readonly backoffs = new Map<TimerHandle, Batch>()

  constructor(
    private readonly topic: Topic,
    private readonly group: Group,
    private readonly handler: BatchHandler,
    private readonly maxBatchSize: number,
    private readonly clock: Clock,
    private readonly redeliveryDelayMs: number,
    private readonly onStopped: () => void,
  ) {}

  start(): void {
    this.group.members.push(this)
    rebalance(this.topic, this.group)
    this.loop = this.run()
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    this.stopped = true
    const index = this.group.members.indexOf(this)
    if (index >= 0) this.group.members.splice(index, 1)
    // Partitions of a batch in flight stay busy until it settles, so their new owners wait for it.
    rebalance(this.topic, this.group)
    if (this.wake) {
      this.topic.waiters.delete(this.wake)
      this.wake()
    }
    await this.loop
    for (const [timer, batch] of this.backoffs) {
      timer.cancel()
      this.release(batch)
    }
    this.backoffs.clear()
    wakeAll(this.topic)
    this.onStopped()
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const batch = this.take()
      if (!batch) {
        await new Promise<void>((resolve) => {
          this.wake = resolve
          this.topic.waiters.add(resolve)
        })
        this.wake = undefined
        continue
      }
      let acknowledged = true
      try {
        await this.handler(batch.messages)
      } catch {
        acknowledged = false
      }
      if (acknowledged) this.acknowledge(batch)
      else this.reject(batch)
      await yieldToEventLoop()
    }
  }

  /** Takes up to `maxBatchSize` records from the owned partitions that are not busy. */
  private take(): Batch | undefined {
    const owned = this.owned
    const count = owned.length
    if (count === 0) return undefined
    const messages: QueueMessage[] = []
    const taken: number[] = []
    let room = this.maxBatchSize
    // Start at a rotating partition so full batches do not always favour the same partitions.
    const start = this.cursor++ % count
    for (let i = 0; i < count && room > 0; i++) {
      const p = owned[(start + i) % count] as number
      const position = this.group.partitions[p] as GroupPartition
      if (position.busy) continue
      const log = this.topic.logs[p] as PartitionLog
      const n = Math.min(log.base + log.records.length - position.committed, room)
      if (n <= 0) continue
      const attempts = position.attempts
      const first = position.committed - log.base
      for (let index = first; index < first + n; index++) {
        const record = log.records[index] as StoredRecord
        const message: QueueMessage = {
          id: record.id,
          key: record.key,
          value: record.value,
          deliveryAttempt: attempts?.get(log.base + index) ?? 1,
          publishedAt: record.publishedAt,
        }
        if (record.headers !== undefined) message.headers = record.headers
        messages.push(message)
      }
      position.busy = true
      taken.push(p, n)
      room -= n
    }
    return messages.length === 0 ? undefined : { messages, taken }
  }

  private acknowledge(batch: Batch): void {
    const { taken } = batch
    for (let i = 0; i < taken.length; i += 2) {
      const p = taken[i] as number
      const position = this.group.partitions[p] as GroupPartition
      const from = position.committed
      position.committed += taken[i + 1] as number
      position.busy = false
      if (position.attempts) {
        for (let offset = from; offset < position.committed; offset++) position.attempts.delete(offset)
        if (position.attempts.size === 0) position.attempts = undefined
      }
      this.trim(p)
    }
    wakeAll(this.topic)
  }

  /** Counts the failed delivery and holds the partitions back for the redelivery delay. */
  private reject(batch: Batch): void {
    const { taken } = batch
    for (let i = 0; i < taken.length; i += 2) {
      const position = this.group.partitions[taken[i] as number] as GroupPartition
      position.attempts ??= new Map()
      const end = position.committed + (taken[i + 1] as number)
      for (let offset = position.committed; offset < end; offset++) {
        position.attempts.set(offset, (position.attempts.get(offset) ?? 1) + 1)
      }
    }
    if (this.stopped) {
      this.release(batch)
      wakeAll(this.topic)
      return
    }
    const timer = this.clock.setTimer(this.redeliveryDelayMs, () => {
      this.backoffs.delete(timer)
      this.release(batch)
      wakeAll(this.topic)
    })
    this.backoffs.set(timer, batch)
  }

  private release(batch: Batch): void {
    for (let i = 0; i < batch.taken.length; i += 2) {
      ;(this.group.partitions[batch.taken[i] as number] as GroupPartition).busy = false
    }
  }

  /** Drops the records every group acknowledged, once that is a large share of the log. */
  private trim(p: number): void {
    const log = this.topic.logs[p] as PartitionLog
    const position = this.group.partitions[p] as GroupPartition
    if (position.committed - log.base < TRIM_CHUNK) return
    let lowest = position.committed
    for (const group of this.topic.groups.values()) {
      lowest = Math.min(lowest, (group.partitions[p] as GroupPartition).committed)
    }
    const drop = lowest - log.base
    if (drop < TRIM_CHUNK || drop * 2 < log.records.length) return
    log.records = log.records.slice(drop)
    log.base = lowest
  }
}

/** FNV-1a over UTF-16 code units: stable, fast, spreads similar keys. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Records of `topic` its slowest group has not acknowledged; every record when no group consumes it. */
function waitingRecords(topic: Topic): number {
  let waiting = 0
  topic.logs.forEach((log, p) => {
    let lowest = topic.groups.size === 0 ? log.base : Number.POSITIVE_INFINITY
    for (const group of topic.groups.values()) {
      lowest = Math.min(lowest, (group.partitions[p] as GroupPartition).committed)
    }
    waiting += log.base + log.records.length - lowest
  })
  return waiting
}

function invalid(message: string): QueueError {
  return new QueueError(message, { retryable: false, code: 'queue.invalid' })
}

function assertTopicName(topic: unknown): void {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw invalid(`topic must be a non-empty string, got ${JSON.stringify(topic)}`)
  }
}

function assertRecord(record: QueueRecord | undefined, index: number): void {
  if (typeof record !== 'object' || record === null) {
    throw invalid(`record ${index} is not an object: pass { key, value, headers? }`)
  }
  if (record.key !== null && typeof record.key !== 'string') {
    throw invalid(`record ${index} has a ${typeof record.key} key: use a string, or null for no key`)
  }
  if (typeof record.value !== 'string') {
    throw invalid(`record ${index} has a ${typeof record.value} value: serialize it to a string (JSON text)`)
  }
  if (record.headers !== undefined) {
    for (const [name, value] of Object.entries(record.headers)) {
      if (typeof value !== 'string') {
        throw invalid(`record ${index} header '${name}' is a ${typeof value}: header values must be strings`)
      }
    }
  }
}

function assertConsumeOptions(options: ConsumeOptions): void {
  if (typeof options?.group !== 'string' || options.group.length === 0) {
    throw invalid('consume needs a non-empty consumer group name (options.group)')
  }
  const size = options.maxBatchSize
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
    throw invalid(`maxBatchSize must be a positive integer, got ${String(size)}`)
  }
}
