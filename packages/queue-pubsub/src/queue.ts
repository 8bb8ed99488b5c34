import {
  type BatchPublishOptions,
  type CreateSubscriptionOptions,
  Duration,
  type Message,
  type Subscription,
  SubscriptionCloseBehaviors,
  type Topic,
} from '@google-cloud/pubsub'
import {
  type BatchHandler,
  type Clock,
  type ConsumeOptions,
  type QueueCapabilities,
  QueueError,
  type QueueRecord,
  type QueueSubscription,
  type QueueTransport,
} from '@sluice/core'
import { Batcher, type Delivery, GroupState } from './batcher.js'
import {
  type Connection,
  connect,
  ensureSubscription,
  ensureTopic,
  invalidResourceName,
  type PubSubConnectionOptions,
} from './client.js'
import { decodeRecord, encodeRecord, invalidRecord } from './codec.js'
import { COMPONENT, GrpcStatus, grpcStatus, toQueueError } from './errors.js'

/** Options of {@link createPubSubQueue}. */
export interface PubSubQueueOptions extends PubSubConnectionOptions {
  /**
   * Handler calls one consumer runs at once. They never share an ordering key, so raising it
   * helps when a batch's keys are few and its handler is slow.
   * @default 4
   */
  maxConcurrentBatches?: number
  /**
   * How long the first message of a batch waits for more before a batch that is not full goes out.
   * @default 10
   */
  lingerMs?: number
  /**
   * How long the messages of a rejected batch are held (their keys blocked) before they are nacked
   * and so delivered again; keeps a handler that keeps failing from spinning. Other keys flow meanwhile.
   * @default 100
   */
  redeliveryDelayMs?: number
  /**
   * Flow control of each consumer: it stops pulling while this many messages or bytes are
   * buffered or in handler calls (unacknowledged). `maxMessages` defaults to the larger of 1 000 and
   * `maxBatchSize × (maxConcurrentBatches + 1)`, so full batches can form.
   */
  flowControl?: { maxMessages?: number; maxBytes?: number }
  /**
   * Streaming pulls each consumer keeps open.
   * @default 2
   */
  streams?: number
  /**
   * Ack deadline of the subscriptions Sluice creates (10–600 s); the client extends the leases
   * of messages it holds, so this only bounds how soon a crashed consumer's messages come back.
   * @default 60
   */
  ackDeadlineSeconds?: number
  /**
   * More settings for the subscriptions Sluice creates, e.g. `retryPolicy` (backoff between
   * redeliveries), `deadLetterPolicy` (then `deliveryAttempt` is the service's count) or
   * `expirationPolicy`. Message ordering is always on.
   */
  subscriptionOptions?: Omit<
    CreateSubscriptionOptions,
    'topic' | 'name' | 'enableMessageOrdering' | 'ackDeadlineSeconds' | 'gaxOpts' | 'flowControl'
  >
  /**
   * Publisher batching: a batch of one ordering key goes out when it holds this many messages or
   * bytes, or after `maxMilliseconds`.
   * @default { maxMessages: 1000, maxMilliseconds: 5 }
   */
  publishBatching?: BatchPublishOptions
  /**
   * Hears problems no call can reject with: a consumer's stream failing for good (it is reopened),
   * acknowledgements that could not be sent on stop, a new subscription that could not be moved
   * back over the topic's retained messages.
   * @default logs the message with console.error
   */
  onError?: (error: QueueError) => void
}

/**
 * What the Pub/Sub transport guarantees. Ordering is per ordering key (the record key); sharing is
 * Pub/Sub's own: the consumers of one subscription split its messages.
 */
export const pubSubQueueCapabilities: QueueCapabilities = Object.freeze({
  orderedByKey: true,
  redelivers: true,
  sharedConsumption: true,
  durable: true,
})

const DEFAULT_MAX_BATCH_SIZE = 500
const DEFAULT_MAX_CONCURRENT_BATCHES = 4
const DEFAULT_LINGER_MS = 10
const DEFAULT_REDELIVERY_DELAY_MS = 100
const DEFAULT_STREAMS = 2
const DEFAULT_ACK_DEADLINE_SECONDS = 60
/** How long later messages of a key wait for the key's nacked messages to be delivered again. */
const REWIND_TIMEOUT_MS = 10_000
const REOPEN_MIN_MS = 1_000
const REOPEN_MAX_MS = 30_000

/** Real time; its timers never keep the process alive by themselves (the streams do while open). */
const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, Math.max(0, delayMs))
    timer.unref()
    return { cancel: () => clearTimeout(timer) }
  },
}

/**
 * Creates a queue transport over Google Cloud Pub/Sub. A topic is a Pub/Sub topic (created on
 * first use, with message retention); a consumer group is a subscription of that name (created
 * with message ordering); a record's key is its ordering key. Handler calls get up to
 * `maxBatchSize` messages gathered from the stream, never two calls the same key at once; a
 * resolved call acks its messages, a rejected one nacks them so Pub/Sub delivers them again.
 *
 * @example
 * const queue = createPubSubQueue({ projectId: 'my-project' }) // PUBSUB_EMULATOR_HOST for the emulator
 * await queue.consume('events', { group: 'sluice' }, async (batch) => handle(batch))
 * await queue.produce('events', [{ key: '2:user-1', value: '{"event":"$pageview"}' }])
 */
export function createPubSubQueue(options: PubSubQueueOptions = {}): QueueTransport {
  const maxConcurrentBatches = options.maxConcurrentBatches ?? DEFAULT_MAX_CONCURRENT_BATCHES
  const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS
  const redeliveryDelayMs = options.redeliveryDelayMs ?? DEFAULT_REDELIVERY_DELAY_MS
  const streams = options.streams ?? DEFAULT_STREAMS
  const ackDeadlineSeconds = options.ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_SECONDS
  if (!Number.isInteger(maxConcurrentBatches) || maxConcurrentBatches < 1) {
    throw invalid(`maxConcurrentBatches must be a positive integer, got ${String(maxConcurrentBatches)}`)
  }
  if (!Number.isFinite(lingerMs) || lingerMs < 0) {
    throw invalid(`lingerMs must be a non-negative number, got ${String(lingerMs)}`)
  }
  if (!Number.isFinite(redeliveryDelayMs) || redeliveryDelayMs < 0) {
    throw invalid(`redeliveryDelayMs must be a non-negative number, got ${String(redeliveryDelayMs)}`)
  }
  if (!Number.isInteger(streams) || streams < 1) {
    throw invalid(`streams must be a positive integer, got ${String(streams)}`)
  }
  if (!Number.isInteger(ackDeadlineSeconds) || ackDeadlineSeconds < 10 || ackDeadlineSeconds > 600) {
    throw invalid(
      `ackDeadlineSeconds must be a whole number from 10 to 600, got ${String(ackDeadlineSeconds)}`,
    )
  }
  const { maxMessages, maxBytes } = options.flowControl ?? {}
  if (maxMessages !== undefined && (!Number.isInteger(maxMessages) || maxMessages < 1)) {
    throw invalid(`flowControl.maxMessages must be a positive integer, got ${String(maxMessages)}`)
  }
  if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 1)) {
    throw invalid(`flowControl.maxBytes must be a positive integer, got ${String(maxBytes)}`)
  }
  const connection = connect(options, invalid)
  const onError = options.onError ?? ((error: QueueError) => console.error(error.message))
  const report = (error: QueueError) => {
    try {
      onError(error)
    } catch {
      // A throwing listener must not break the consumer that reported.
    }
  }
  const fail = (error: unknown, operation: string) =>
    toQueueError(error, { operation, endpoint: connection.endpoint })

  const publishers = new Map<string, Topic>()
  const topicsReady = new Map<string, Promise<void>>()
  const groups = new Map<string, GroupState>()
  const consumers = new Set<Consumer>()
  let closed = false

  const assertOpen = (operation: string) => {
    if (closed) {
      throw new QueueError(`cannot ${operation}: this Pub/Sub queue was closed — create a new one`, {
        retryable: false,
        code: 'queue.closed',
        component: COMPONENT,
      })
    }
  }

  const topicReady = (name: string): Promise<void> => {
    let ready = topicsReady.get(name)
    if (!ready) {
      ready = ensureTopic(connection, name).catch((error: unknown) => {
        topicsReady.delete(name)
        throw fail(error, `create topic '${name}'`)
      })
      topicsReady.set(name, ready)
    }
    return ready
  }

  const publisher = (name: string): Topic => {
    let topic = publishers.get(name)
    if (!topic) {
      topic = connection.pubsub.topic(name, {
        messageOrdering: true,
        batching: { maxMessages: 1000, maxMilliseconds: 5, ...options.publishBatching },
        gaxOpts: { timeout: connection.timeoutMs },
      })
      publishers.set(name, topic)
    }
    return topic
  }

  return {
    capabilities: pubSubQueueCapabilities,

    async produce(topicName, records) {
      assertOpen('produce')
      assertName('topic', topicName)
      for (let i = 0; i < records.length; i++) {
        const problem = invalidRecord(records[i], i)
        if (problem) throw invalid(problem)
      }
      if (records.length === 0) return
      await topicReady(topicName)
      await publishAll(publisher(topicName), records, (error, failed) =>
        fail(error, `publish ${failed} of ${records.length} records to topic '${topicName}'`),
      )
    },

    async consume(topicName, consumeOptions, handler) {
      assertOpen('consume')
      assertName('topic', topicName)
      assertConsumeOptions(consumeOptions)
      if (typeof handler !== 'function') throw invalid('consume needs a handler function')
      const group = consumeOptions.group
      const maxBatchSize = consumeOptions.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE
      await topicReady(topicName)
      const topic = connection.pubsub.topic(topicName)
      const settings = { ackDeadlineSeconds, extra: options.subscriptionOptions ?? {} }
      const mismatch = (message: string) =>
        new QueueError(message, { retryable: false, code: 'queue.invalid', component: COMPONENT })
      let ensured: Awaited<ReturnType<typeof ensureSubscription>>
      try {
        ensured = await ensureSubscription(connection, topic, group, settings, mismatch)
      } catch (error) {
        throw fail(error, `subscribe group '${group}' to topic '${topicName}'`)
      }
      if (ensured.rewindError !== undefined) {
        report(
          fail(
            ensured.rewindError,
            `move the new subscription '${group}' back over the retained messages of topic '${topicName}' ` +
              '(records published before it was created will not reach this group)',
          ),
        )
      }
      // Checked again: close() may have run while the subscription was being made.
      assertOpen('consume')
      let state = groups.get(group)
      if (!state) {
        state = new GroupState({ clock: systemClock, rewindTimeoutMs: REWIND_TIMEOUT_MS })
        groups.set(group, state)
      }
      const consumer = new Consumer({
        connection,
        topic,
        group,
        state,
        handler,
        maxBatchSize,
        maxConcurrentBatches,
        lingerMs,
        redeliveryDelayMs,
        streams,
        flowControl: {
          maxMessages: maxMessages ?? Math.max(1000, maxBatchSize * (maxConcurrentBatches + 1)),
          ...(maxBytes === undefined ? {} : { maxBytes }),
        },
        ackDeadlineSeconds,
        subscriptionOptions: settings,
        report,
        fail,
        onStopped: () => consumers.delete(consumer),
      })
      consumers.add(consumer)
      consumer.start()
      return { stop: () => consumer.stop() } satisfies QueueSubscription
    },

    async close() {
      closed = true
      await Promise.all([...consumers].map((consumer) => consumer.stop()))
      for (const state of groups.values()) state.dispose()
      groups.clear()
      await Promise.all([...publishers.values()].map((topic) => topic.flush().catch(() => {})))
      publishers.clear()
      if (connection.owned) await connection.pubsub.close().catch(() => {})
    },
  }
}

/**
 * Publishes `records` in order and waits for every server ack. Failed keys are resumed, since the
 * client pauses an ordering key after a failed publish until told to go on.
 */
async function publishAll(
  topic: Topic,
  records: readonly QueueRecord[],
  fail: (error: unknown, failed: number) => Error,
): Promise<void> {
  const messages = records.map(encodeRecord)
  const results = await Promise.allSettled(messages.map((message) => topic.publishMessage(message)))
  let first: unknown
  let failed = 0
  const pausedKeys = new Set<string>()
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') return
    failed += 1
    first ??= result.reason
    const key = messages[i]?.orderingKey
    if (key) pausedKeys.add(key)
  })
  if (failed === 0) return
  for (const key of pausedKeys) topic.resumePublishing(key)
  throw fail(first, failed)
}

interface ConsumerOptions {
  connection: Connection
  topic: Topic
  group: string
  state: GroupState
  handler: BatchHandler
  maxBatchSize: number
  maxConcurrentBatches: number
  lingerMs: number
  redeliveryDelayMs: number
  streams: number
  flowControl: { maxMessages: number; maxBytes?: number }
  ackDeadlineSeconds: number
  subscriptionOptions: Parameters<typeof ensureSubscription>[3]
  report: (error: QueueError) => void
  fail: (error: unknown, operation: string) => QueueError
  onStopped: () => void
}

/** One running consumer: a Pub/Sub streaming subscriber feeding a {@link Batcher}. */
class Consumer {
  private readonly subscription: Subscription
  private readonly batcher: Batcher
  private stopping: Promise<void> | undefined
  private reopenTimer: ReturnType<typeof setTimeout> | undefined
  private reopenDelayMs = REOPEN_MIN_MS

  constructor(private readonly options: ConsumerOptions) {
    const { connection, group, flowControl, streams } = options
    this.subscription = connection.pubsub.subscription(group, {
      // Without excess messages the limits hold for what reaches the batcher: the client keeps the
      // rest leased, out of the way, until handled messages are settled.
      flowControl: { ...flowControl, allowExcessMessages: false },
      streamingOptions: { maxStreams: streams },
      closeOptions: {
        behavior: SubscriptionCloseBehaviors.NackImmediately,
        timeout: Duration.from({ milliseconds: connection.timeoutMs }),
      },
    })
    this.batcher = new Batcher({
      handler: options.handler,
      group: options.state,
      clock: systemClock,
      maxBatchSize: options.maxBatchSize,
      maxConcurrentBatches: options.maxConcurrentBatches,
      lingerMs: options.lingerMs,
      redeliveryDelayMs: options.redeliveryDelayMs,
    })
  }

  start(): void {
    this.subscription.on('error', (error: unknown) => this.onStreamError(error))
    this.subscription.on('close', () => this.onClosed())
    // Adding the first 'message' listener opens the streaming pull.
    this.subscription.on('message', (message: Message) => {
      this.reopenDelayMs = REOPEN_MIN_MS
      this.batcher.receive(toDelivery(message))
    })
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.reopenTimer)
    // Handler calls in flight finish and settle first; closing the subscriber then ends the
    // stream, nacks whatever the batcher did not settle and sends the acks and nacks still queued.
    await this.batcher.stop()
    try {
      await this.subscription.close()
    } catch (error) {
      this.options.report(
        this.options.fail(error, `send the last acknowledgements of group '${this.options.group}' on stop`),
      )
    }
    this.subscription.removeAllListeners()
    // Errors after this point have nowhere to go; keep a listener so they cannot crash the process.
    this.subscription.on('error', () => {})
    this.options.onStopped()
  }

  private onStreamError(error: unknown): void {
    if (this.stopping) return
    this.options.report(
      this.options.fail(
        error,
        `receive from subscription '${this.options.group}' (the consumer reconnects in ${this.reopenDelayMs} ms)`,
      ),
    )
  }

  /** The subscriber closed on its own after an error it does not retry: reopen it after a pause. */
  private onClosed(): void {
    if (this.stopping) return
    this.batcher.discard()
    clearTimeout(this.reopenTimer)
    const delay = this.reopenDelayMs
    this.reopenDelayMs = Math.min(this.reopenDelayMs * 2, REOPEN_MAX_MS)
    this.reopenTimer = setTimeout(() => void this.reopen(), delay)
  }

  private async reopen(): Promise<void> {
    if (this.stopping) return
    const { connection, topic, group, subscriptionOptions } = this.options
    if (connection.createMissing) {
      try {
        await ensureSubscription(
          connection,
          topic,
          group,
          subscriptionOptions,
          (message) => new Error(message),
        )
      } catch (error) {
        if (grpcStatus(error) !== GrpcStatus.ALREADY_EXISTS) {
          this.onStreamError(error)
          this.onClosed()
          return
        }
      }
    }
    if (!this.stopping) this.subscription.open()
  }
}

function toDelivery(message: Message): Delivery {
  return {
    id: message.id,
    orderingKey: message.orderingKey ? message.orderingKey : null,
    record: decodeRecord(message),
    serviceAttempt: message.deliveryAttempt || 0,
    publishedAt: message.publishTime.getTime(),
    ack: () => message.ack(),
    nack: () => message.nack(),
  }
}

function invalid(message: string): QueueError {
  return new QueueError(message, { retryable: false, code: 'queue.invalid', component: COMPONENT })
}

function assertName(what: string, name: unknown): void {
  const problem = invalidResourceName(name)
  if (problem) throw invalid(`${what} ${problem}`)
}

function assertConsumeOptions(options: ConsumeOptions): void {
  if (typeof options?.group !== 'string' || options.group.length === 0) {
    throw invalid('consume needs a non-empty consumer group name (options.group)')
  }
  assertName('consumer group (the Pub/Sub subscription name)', options.group)
  const size = options.maxBatchSize
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
    throw invalid(`maxBatchSize must be a positive integer, got ${String(size)}`)
  }
}
