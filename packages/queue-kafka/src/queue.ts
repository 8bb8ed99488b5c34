import {
  type BatchHandler,
  type ConsumeOptions,
  type QueueCapabilities,
  QueueError,
  type QueueMessage,
  type QueueRecord,
  type QueueSubscription,
  type QueueTransport,
} from '@sluice/core'
import type { Consumer, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs'
import { connect, type KafkaConnectionOptions } from './connection.js'
import { toQueueError } from './errors.js'
import { createThreadedProducerSession } from './producer-thread.js'
import { createTopicEnsurer, layoutProblem, type TopicLayoutOptions, topicNameProblem } from './topics.js'

/** Options of {@link createKafkaQueue}. */
export interface KafkaQueueOptions extends KafkaConnectionOptions, TopicLayoutOptions {
  /**
   * A consumer that sends no heartbeat for this long leaves its group and its partitions move on.
   * @default 30000
   */
  sessionTimeoutMs?: number
  /**
   * How often consumers heartbeat — also while a handler call runs — and so how soon they notice a
   * rebalance.
   * @default 1000
   */
  heartbeatIntervalMs?: number
  /**
   * How long the group waits for every consumer to finish its handler calls and rejoin during a
   * rebalance. A handler call running longer gets its consumer dropped from the group.
   * @default 60000
   */
  rebalanceTimeoutMs?: number
  /**
   * Longest wait of a fetch for new records; also bounds how long `stop()` takes on an idle topic.
   * @default 500
   */
  maxWaitTimeMs?: number
  /**
   * Partitions a consumer works on at once (one handler call per partition, so never two for a key).
   * @default 4
   */
  partitionsConsumedConcurrently?: number
  /**
   * Kafka consumers each `consume` runs in this process, each a member of the group with its own
   * share of the partitions and its own fetch loop. kafkajs fetches a consumer's next records only
   * once the handler finished every batch of its last fetch, so with one consumer the handler waits
   * out each fetch and the slowest partition of each round; a second fetches while the first's
   * batches are handled. Up to `consumers × partitionsConsumedConcurrently` handler calls run at once.
   * @default 2
   */
  consumers?: number
  /**
   * How long a partition whose batch was rejected waits before the batch is delivered again.
   * Other partitions keep flowing meanwhile.
   * @default 1000
   */
  redeliveryDelayMs?: number
  /**
   * Told about failures no call returns: a consumer that crashed (it restarts by itself when the
   * error is retryable) or could not stop cleanly. Handler rejections are not reported here.
   * @default ignore
   */
  onError?: (error: QueueError) => void
}

/** What the Kafka transport guarantees: everything the port describes. */
export const kafkaQueueCapabilities: QueueCapabilities = Object.freeze({
  orderedByKey: true,
  redelivers: true,
  sharedConsumption: true,
  durable: true,
})

const DEFAULT_MAX_BATCH_SIZE = 500

const invalid = (message: string) =>
  new QueueError(message, { retryable: false, code: 'queue.invalid', component: 'kafka' })

/** Decodes kafkajs headers; a header repeated under one name keeps its last value. */
export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> | undefined {
  if (!headers) return undefined
  const decoded: Record<string, string> = {}
  for (const [name, raw] of Object.entries(headers)) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw
    if (value === undefined) continue
    decoded[name] = typeof value === 'string' ? value : value.toString('utf8')
  }
  return Object.keys(decoded).length > 0 ? decoded : undefined
}

/**
 * A fetched Kafka record as a queue message. The id is `<partition>:<offset>`, unique within the
 * topic and the same on every delivery; `attempts` holds earlier deliveries of records that were
 * rejected in this process.
 */
export function toQueueMessage(
  partition: number,
  record: KafkaMessage,
  attempts: ReadonlyMap<string, number>,
): QueueMessage {
  const id = `${partition}:${record.offset}`
  const message: QueueMessage = {
    id,
    key: record.key === null || record.key === undefined ? null : record.key.toString('utf8'),
    value: record.value === null ? '' : record.value.toString('utf8'),
    deliveryAttempt: (attempts.get(id) ?? 0) + 1,
    publishedAt: Number(record.timestamp),
  }
  const headers = decodeHeaders(record.headers)
  if (headers) message.headers = headers
  return message
}

function recordProblem(record: QueueRecord, index: number): string | null {
  if (typeof record !== 'object' || record === null) return `record ${index} is not an object`
  if (typeof record.value !== 'string') return `record ${index}: value must be a string`
  if (record.key !== null && typeof record.key !== 'string')
    return `record ${index}: key must be a string or null`
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    if (typeof value !== 'string') return `record ${index}: header "${name}" must be a string`
  }
  return null
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1)
    throw invalid(`${name} must be a positive integer, got ${String(value)}`)
  return value
}

/**
 * Creates a queue transport over Apache Kafka (kafkajs). Each `consume` runs `consumers` Kafka
 * consumers in the given group: partitions are divided between the group's consumers, a fetched
 * partition batch is handed to the handler in slices of at most `maxBatchSize`, one slice at a time
 * per partition (so a key's records are handled in order, never two slices of one key at once), and
 * an offset is committed only after the handler resolved for every record up to it.
 *
 * A rejected slice pauses its partition for `redeliveryDelayMs` and is then fetched again from its
 * first record; `deliveryAttempt` counts deliveries within this process (a record that moves to
 * another process after a rebalance starts again at 1). A group that has no committed offset yet
 * starts at the earliest record. Topics are created on first use with `partitions` partitions.
 *
 * @example
 * const queue = createKafkaQueue({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092' })
 * await queue.consume('events', { group: 'pipeline' }, async (batch) => handle(batch))
 * await queue.produce('events', [{ key: '2:user-1', value: '{"event":"$pageview"}' }])
 */
export function createKafkaQueue(options: KafkaQueueOptions): QueueTransport {
  const connection = connect(options, invalid)
  const layout = layoutProblem(options)
  if (layout) throw invalid(layout)
  const sessionTimeout = positiveInteger('sessionTimeoutMs', options.sessionTimeoutMs, 30_000)
  const heartbeatInterval = positiveInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, 1_000)
  const rebalanceTimeout = positiveInteger('rebalanceTimeoutMs', options.rebalanceTimeoutMs, 60_000)
  const maxWaitTimeInMs = positiveInteger('maxWaitTimeMs', options.maxWaitTimeMs, 500)
  const concurrency = positiveInteger(
    'partitionsConsumedConcurrently',
    options.partitionsConsumedConcurrently,
    4,
  )
  const consumerCount = positiveInteger('consumers', options.consumers, 2)
  const redeliveryDelayMs = options.redeliveryDelayMs ?? 1_000
  if (!Number.isFinite(redeliveryDelayMs) || redeliveryDelayMs < 0) {
    throw invalid(`redeliveryDelayMs must be a non-negative number, got ${String(redeliveryDelayMs)}`)
  }
  if (heartbeatInterval >= sessionTimeout) {
    throw invalid(
      `heartbeatIntervalMs (${heartbeatInterval}) must be lower than sessionTimeoutMs (${sessionTimeout})`,
    )
  }
  const onError = options.onError ?? (() => {})
  const { brokers } = connection
  const producer = createThreadedProducerSession(options, connection)
  const topics = createTopicEnsurer(connection, options)
  const subscriptions = new Set<QueueSubscription>()
  let closed = false

  const assertOpen = (operation: string) => {
    if (closed) {
      throw new QueueError(`cannot ${operation}: this Kafka queue was closed — create a new one`, {
        retryable: false,
        code: 'queue.closed',
        component: 'kafka',
      })
    }
  }

  const ensureTopic = async (topic: string, operation: string) => {
    try {
      await topics.ensure(topic)
    } catch (error) {
      throw toQueueError(error, { operation: `${operation} (creating the topic)`, brokers })
    }
  }

  /**
   * Starts one member of `group`. `attempts` is shared by the members of one `consume`, so a
   * partition moving between them keeps counting its records' deliveries.
   */
  const startConsumer = async (
    topic: string,
    group: string,
    maxBatchSize: number,
    handler: BatchHandler,
    attempts: Map<string, number>,
  ): Promise<QueueSubscription> => {
    const operation = `consume topic "${topic}" as group "${group}"`
    const resumeTimers = new Set<ReturnType<typeof setTimeout>>()
    let stopped = false

    const consumer: Consumer = connection.kafka.consumer({
      groupId: group,
      sessionTimeout,
      heartbeatInterval,
      rebalanceTimeout,
      maxWaitTimeInMs,
      allowAutoTopicCreation: false,
      // A stopped subscription must not come back through kafkajs's restart-after-crash.
      retry: { retries: options.retries ?? 5, restartOnFailure: async () => !stopped },
    })
    let started = false
    /** A crash kafkajs will not recover from, while `run()` was still joining the group. */
    let fatalAtStart: unknown
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!started && !payload.restart) fatalAtStart = payload.error
      else if (!stopped) onError(toQueueError(payload.error, { operation, brokers }))
    })
    consumer.on(consumer.events.GROUP_JOIN, () => {
      // A join that raced stop() would leave a consumer running behind a stopped subscription.
      if (stopped) void consumer.stop().catch(() => {})
    })

    /** Runs one handler call, heartbeating meanwhile so a long call keeps the group membership. */
    const deliver = async (messages: QueueMessage[], heartbeat: () => Promise<void>) => {
      let heartbeatFailure: unknown
      const timer = setInterval(() => {
        heartbeat().catch((error: unknown) => {
          heartbeatFailure ??= error
        })
      }, heartbeatInterval)
      try {
        await handler(messages)
        return { acknowledged: true, heartbeatFailure }
      } catch {
        return { acknowledged: false, heartbeatFailure }
      } finally {
        clearInterval(timer)
      }
    }

    const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
      const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause } = payload
      for (let start = 0; start < batch.messages.length; start += maxBatchSize) {
        if (stopped || !isRunning() || isStale()) return
        // Throws when the group is rebalancing: the rest of the batch stays unacknowledged, kafkajs
        // commits what was acknowledged and rejoins only once every handler call settled.
        await heartbeat()
        const slice = batch.messages.slice(start, start + maxBatchSize)
        const messages = slice.map((record) => toQueueMessage(batch.partition, record, attempts))
        const outcome = await deliver(messages, heartbeat)
        if (!outcome.acknowledged) {
          for (const message of messages) attempts.set(message.id, message.deliveryAttempt)
          const resume = pause()
          const timer = setTimeout(() => {
            resumeTimers.delete(timer)
            resume()
          }, redeliveryDelayMs)
          resumeTimers.add(timer)
          return
        }
        for (const message of messages) attempts.delete(message.id)
        const last = slice[slice.length - 1]
        if (last) resolveOffset(last.offset)
        // autoCommitThreshold 1: every acknowledged slice is committed before the next one starts.
        await commitOffsetsIfNecessary()
        if (outcome.heartbeatFailure !== undefined) throw outcome.heartbeatFailure
      }
    }

    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        autoCommit: true,
        autoCommitThreshold: 1,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: concurrency,
        eachBatch,
      })
      // kafkajs reports a failed first join as a crash, not as a rejection of run().
      if (fatalAtStart !== undefined) throw fatalAtStart
      started = true
    } catch (error) {
      stopped = true
      await consumer.disconnect().catch(() => {})
      throw toQueueError(error, { operation, brokers })
    }

    let stopping: Promise<void> | undefined
    return {
      stop() {
        stopping ??= (async () => {
          stopped = true
          for (const timer of resumeTimers) clearTimeout(timer)
          resumeTimers.clear()
          try {
            // Waits for the handler calls in flight and their commits, then leaves the group.
            await consumer.disconnect()
          } catch (error) {
            onError(
              toQueueError(error, {
                operation: `stop consuming topic "${topic}" as group "${group}"`,
                brokers,
              }),
            )
          }
        })()
        return stopping
      },
    }
  }

  /** Starts the `consumers` members of one `consume`; none stays running when one fails to start. */
  const startConsumers = async (
    topic: string,
    group: string,
    maxBatchSize: number,
    handler: BatchHandler,
  ) => {
    /** Deliveries so far of records whose last delivery was rejected, by message id. */
    const attempts = new Map<string, number>()
    const started = await Promise.allSettled(
      Array.from({ length: consumerCount }, () =>
        startConsumer(topic, group, maxBatchSize, handler, attempts),
      ),
    )
    const members = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
    const failed = started.find((outcome) => outcome.status === 'rejected')
    if (failed) {
      await Promise.all(members.map((member) => member.stop()))
      throw failed.reason
    }
    let stopping: Promise<void> | undefined
    const subscription: QueueSubscription = {
      stop() {
        stopping ??= Promise.all(members.map((member) => member.stop())).then(() => {
          attempts.clear()
          subscriptions.delete(subscription)
        })
        return stopping
      },
    }
    subscriptions.add(subscription)
    return subscription
  }

  return {
    capabilities: kafkaQueueCapabilities,

    async produce(topic, records) {
      assertOpen('produce')
      const problem = topicNameProblem(topic)
      if (problem) throw invalid(problem)
      if (!Array.isArray(records)) throw invalid('records must be an array')
      for (const [index, record] of records.entries()) {
        const recordIssue = recordProblem(record, index)
        if (recordIssue) throw invalid(recordIssue)
      }
      if (records.length === 0) return
      const operation = `produce to topic "${topic}"`
      await ensureTopic(topic, operation)
      try {
        await producer.send(topic, records)
      } catch (error) {
        throw toQueueError(error, { operation, brokers })
      }
    },

    async consume(topic, consumeOptions: ConsumeOptions, handler) {
      assertOpen('consume')
      const problem = topicNameProblem(topic)
      if (problem) throw invalid(problem)
      if (typeof consumeOptions?.group !== 'string' || consumeOptions.group === '') {
        throw invalid('a consumer group (options.group) is required')
      }
      const maxBatchSize = positiveInteger(
        'maxBatchSize',
        consumeOptions.maxBatchSize,
        DEFAULT_MAX_BATCH_SIZE,
      )
      if (typeof handler !== 'function') throw invalid('handler must be a function')
      await ensureTopic(topic, `consume topic "${topic}"`)
      return startConsumers(topic, consumeOptions.group, maxBatchSize, handler)
    },

    async close() {
      if (closed) return
      closed = true
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()))
      await Promise.all([producer.close(), topics.close()])
    },
  }
}
