import type { BatchPublishOptions, Topic } from '@google-cloud/pubsub'
import { type ProcessedPluginEvent, type Sink, SinkError } from '@sluice/core'
import { connect, ensureTopic, invalidResourceName, type PubSubConnectionOptions } from './client.js'
import { COMPONENT, toSinkError } from './errors.js'

/** Options of {@link createPubSubSink}. */
export interface PubSubSinkOptions extends PubSubConnectionOptions {
  /** The topic events are published to (created on first write unless `createMissing` is off). */
  topic: string
  /**
   * The sink's name in logs and metrics.
   * @default `pubsub:<topic>`
   */
  name?: string
  /**
   * Publisher batching: a batch of one ordering key goes out when it holds this many messages or
   * bytes, or after `maxMilliseconds`.
   * @default { maxMessages: 1000, maxMilliseconds: 5 }
   */
  batching?: BatchPublishOptions
}

/** Attribute: the event's uuid (for deduplication downstream). */
export const UUID_ATTRIBUTE = 'uuid'
/** Attribute: the event's team id. */
export const TEAM_ATTRIBUTE = 'team_id'
/** Attribute: the event name (for subscription filters). */
export const EVENT_ATTRIBUTE = 'event'
/** Attribute: the id of the sink instance that wrote the message. */
export const WRITER_ATTRIBUTE = 'sluice-writer'
/** Attribute: the message's position in its writer's output, from 0 (see the README on order). */
export const SEQUENCE_ATTRIBUTE = 'sluice-seq'

/** Pub/Sub refuses attribute values over 1024 bytes; such optional attributes are left out. */
const MAX_ATTRIBUTE_BYTES = 1024

/**
 * Creates a sink that publishes every event as JSON to a Pub/Sub topic, with ordering key
 * `<team_id>:<distinct_id>` (so an ordered subscription gets each person's events in write
 * order) and attributes `uuid`, `team_id`, `event`, `sluice-writer` and `sluice-seq`. A write
 * resolves once Pub/Sub acknowledged every message of it.
 *
 * @example
 * const sink = createPubSubSink({ projectId: 'my-project', topic: 'events_out' })
 * await sink.write(events)
 */
export function createPubSubSink(options: PubSubSinkOptions): Sink {
  const invalid = (message: string) =>
    new SinkError(message, { retryable: false, code: 'sink.invalid', component: COMPONENT })
  const topicName = options?.topic
  const problem = invalidResourceName(topicName)
  if (problem) throw invalid(`topic ${problem}`)
  const connection = connect(options, invalid)
  const name = options.name ?? `pubsub:${topicName}`
  const writer = crypto.randomUUID()
  let sequence = 0
  let closed = false
  let ready: Promise<void> | undefined
  let topic: Topic | undefined
  const writes = new Set<Promise<void>>()

  const fail = (error: unknown, operation: string) =>
    toSinkError(error, { operation, endpoint: connection.endpoint })

  const topicReady = (): Promise<void> => {
    ready ??= ensureTopic(connection, topicName).catch((error: unknown) => {
      ready = undefined
      throw fail(error, `create topic '${topicName}' for sink '${name}'`)
    })
    return ready
  }

  const publisher = (): Topic => {
    topic ??= connection.pubsub.topic(topicName, {
      messageOrdering: true,
      batching: { maxMessages: 1000, maxMilliseconds: 5, ...options.batching },
      gaxOpts: { timeout: connection.timeoutMs },
    })
    return topic
  }

  const write = async (events: readonly ProcessedPluginEvent[]): Promise<void> => {
    const messages = events.map((event, i) => {
      let data: string | undefined
      try {
        data = JSON.stringify(event)
      } catch (error) {
        throw new SinkError(`sink '${name}' cannot serialize event ${i} as JSON: ${String(error)}`, {
          retryable: false,
          code: 'sink.invalid',
          component: COMPONENT,
          cause: error,
        })
      }
      if (typeof data !== 'string') {
        throw invalid(`sink '${name}' cannot write event ${i}: it is not a JSON object`)
      }
      const attributes: Record<string, string> = {
        [WRITER_ATTRIBUTE]: writer,
        [SEQUENCE_ATTRIBUTE]: String(sequence + i),
      }
      addAttribute(attributes, UUID_ATTRIBUTE, event.uuid)
      addAttribute(attributes, TEAM_ATTRIBUTE, event.team_id)
      addAttribute(attributes, EVENT_ATTRIBUTE, event.event)
      return {
        data: Buffer.from(data, 'utf8'),
        orderingKey: `${String(event.team_id)}:${String(event.distinct_id)}`,
        attributes,
      }
    })
    if (messages.length === 0) return
    sequence += messages.length
    await topicReady()
    const target = publisher()
    const results = await Promise.allSettled(messages.map((message) => target.publishMessage(message)))
    let first: unknown
    let failed = 0
    const pausedKeys = new Set<string>()
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return
      failed += 1
      first ??= result.reason
      pausedKeys.add(messages[i]?.orderingKey ?? '')
    })
    if (failed === 0) return
    // The client pauses an ordering key after a failed publish; the batch is written again as a
    // whole, so publishing may go on.
    for (const key of pausedKeys) target.resumePublishing(key)
    throw fail(
      first,
      `publish ${failed} of ${messages.length} events to topic '${topicName}' (sink '${name}')`,
    )
  }

  return {
    name,

    async write(events) {
      if (closed) {
        throw new SinkError(`sink '${name}' was closed: write to a new sink`, {
          retryable: false,
          code: 'sink.closed',
          component: COMPONENT,
        })
      }
      const pending = write(events)
      writes.add(pending)
      try {
        await pending
      } finally {
        writes.delete(pending)
      }
    },

    async close() {
      if (closed) return
      closed = true
      await Promise.allSettled([...writes])
      if (topic) await topic.flush().catch(() => {})
      if (connection.owned) await connection.pubsub.close().catch(() => {})
    },
  }
}

function addAttribute(attributes: Record<string, string>, name: string, value: unknown): void {
  if (value === undefined || value === null) return
  const text = String(value)
  if (text.length > 0 && Buffer.byteLength(text, 'utf8') <= MAX_ATTRIBUTE_BYTES) attributes[name] = text
}
