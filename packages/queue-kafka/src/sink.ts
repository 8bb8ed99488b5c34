import { type ProcessedPluginEvent, type Sink, SinkError } from '@sluice/core'
import { connect, type KafkaConnectionOptions } from './connection.js'
import { toSinkError } from './errors.js'
import type { OutgoingRecord } from './producer.js'
import { createThreadedProducerSession } from './producer-thread.js'
import { createTopicEnsurer, layoutProblem, type TopicLayoutOptions, topicNameProblem } from './topics.js'

/** Options of {@link createKafkaSink}. */
export interface KafkaSinkOptions extends KafkaConnectionOptions, TopicLayoutOptions {
  /** The topic processed events go to; created on first write when missing. */
  topic: string
  /**
   * Name in logs and metrics.
   * @default `kafka:<topic>`
   */
  name?: string
}

const invalid = (message: string) =>
  new SinkError(message, { retryable: false, code: 'sink.invalid', component: 'kafka' })

/** The partitioning key of an event: `<team_id>:<distinct_id>`, as the ingestion queue uses. */
export function eventKey(event: Pick<ProcessedPluginEvent, 'team_id' | 'distinct_id'>): string {
  return `${event.team_id}:${event.distinct_id}`
}

/**
 * Creates a sink that produces each processed event as JSON to a Kafka topic, keyed by
 * `<team_id>:<distinct_id>` (so one person's events stay in one partition, in order). A write is
 * sent in batched produce requests, one after another, and resolves once every request was
 * acknowledged by all in-sync replicas (`acks: -1`); nothing is buffered between writes.
 *
 * @example
 * const sink = createKafkaSink({ brokers: '127.0.0.1:9092', topic: 'events_out' })
 * await sink.write(events)
 */
export function createKafkaSink(options: KafkaSinkOptions): Sink {
  const connection = connect(options, invalid)
  const problem = topicNameProblem(options.topic) ?? layoutProblem(options)
  if (problem) throw invalid(problem)
  const { topic } = options
  const name = options.name ?? `kafka:${topic}`
  const producer = createThreadedProducerSession(options, connection)
  const topics = createTopicEnsurer(connection, options)
  const context = (operation: string) => ({ operation, brokers: connection.brokers })
  let closed = false

  return {
    name,

    async write(events) {
      if (closed) {
        throw new SinkError(`cannot write to ${name}: the sink was closed — create a new one`, {
          retryable: false,
          code: 'sink.closed',
          component: 'kafka',
        })
      }
      if (events.length === 0) return
      const records: OutgoingRecord[] = events.map((event, index) => {
        let value: string | undefined
        try {
          value = JSON.stringify(event)
        } catch (error) {
          throw new SinkError(`cannot write event ${index} to ${name}: it is not JSON data`, {
            retryable: false,
            code: 'sink.invalid',
            component: 'kafka',
            cause: error,
          })
        }
        if (
          value === undefined ||
          typeof event?.team_id !== 'number' ||
          typeof event.distinct_id !== 'string'
        ) {
          throw invalid(
            `cannot write event ${index} to ${name}: it needs a numeric team_id and a distinct_id`,
          )
        }
        return { key: eventKey(event), value }
      })
      try {
        await topics.ensure(topic)
      } catch (error) {
        throw toSinkError(error, context(`create topic "${topic}" for ${name}`))
      }
      try {
        await producer.send(topic, records)
      } catch (error) {
        throw toSinkError(error, context(`write ${events.length} events to topic "${topic}"`))
      }
    },

    async close() {
      if (closed) return
      closed = true
      await Promise.all([producer.close(), topics.close()])
    },
  }
}
