import { DeadLetterError, isDeadLetterSource, type NewDeadLetter } from '@sluice/core'
import { connect, type KafkaConnectionOptions } from './connection.js'
import { toDeadLetterError } from './errors.js'
import { createProducerSession, type OutgoingRecord } from './producer.js'
import { createTopicEnsurer, layoutProblem, type TopicLayoutOptions, topicNameProblem } from './topics.js'

/** Options of {@link createKafkaDeadLetterTopic}. */
export interface KafkaDeadLetterTopicOptions extends KafkaConnectionOptions, TopicLayoutOptions {
  /** The dead-letter topic; created on first use when missing. */
  topic: string
}

/** A Kafka topic that dead letters are produced to. */
export interface KafkaDeadLetterTopic {
  readonly topic: string
  /**
   * Produces each entry as one record: the payload as the value, keyed by team id (or unkeyed),
   * with source, reason, team and config in `sluice-dead-letter-*` headers. Resolves once the
   * brokers acknowledged every record (`acks: -1`).
   */
  put(entries: readonly NewDeadLetter[]): Promise<void>
  /** Releases the producer. */
  close(): Promise<void>
}

/** Header names of a dead-letter record. */
export const deadLetterHeaders = Object.freeze({
  source: 'sluice-dead-letter-source',
  reason: 'sluice-dead-letter-reason',
  teamId: 'sluice-dead-letter-team-id',
  configId: 'sluice-dead-letter-config-id',
})

const invalid = (message: string) =>
  new DeadLetterError(message, { retryable: false, code: 'dead-letter.invalid', component: 'kafka' })

/** The Kafka record of a dead letter. */
export function encodeDeadLetter(entry: NewDeadLetter): OutgoingRecord {
  const headers: Record<string, string> = {
    [deadLetterHeaders.source]: entry.source,
    [deadLetterHeaders.reason]: entry.reason,
  }
  if (entry.teamId !== null) headers[deadLetterHeaders.teamId] = String(entry.teamId)
  if (entry.configId !== null) headers[deadLetterHeaders.configId] = String(entry.configId)
  return { key: entry.teamId === null ? null : String(entry.teamId), value: entry.payload, headers }
}

/**
 * Reads a dead letter back from a consumed record (e.g. a `QueueMessage` of `createKafkaQueue`);
 * null when the record carries no dead-letter headers.
 */
export function decodeDeadLetter(record: {
  value: string
  headers?: Readonly<Record<string, string>> | undefined
}): NewDeadLetter | null {
  const headers = record.headers ?? {}
  const source = headers[deadLetterHeaders.source]
  const reason = headers[deadLetterHeaders.reason]
  if (!isDeadLetterSource(source) || reason === undefined) return null
  const id = (raw: string | undefined) => (raw === undefined || !/^-?\d+$/.test(raw) ? null : Number(raw))
  return {
    source,
    reason,
    payload: record.value,
    teamId: id(headers[deadLetterHeaders.teamId]),
    configId: id(headers[deadLetterHeaders.configId]),
  }
}

/**
 * Creates a dead-letter topic: somewhere to put what Sluice could not process when the dead
 * letters should live in Kafka, next to the topic they came from (core's `DeadLetterStore`, with
 * listing and replay, stays where it is). Read it with `createKafkaQueue(...).consume` and
 * {@link decodeDeadLetter}.
 *
 * @example
 * const dlq = createKafkaDeadLetterTopic({ brokers: '127.0.0.1:9092', topic: 'events_dead_letter' })
 * await dlq.put([{ source: 'ingestion', reason: 'not JSON', payload: raw, teamId: null, configId: null }])
 */
export function createKafkaDeadLetterTopic(options: KafkaDeadLetterTopicOptions): KafkaDeadLetterTopic {
  const connection = connect(options, invalid)
  const problem = topicNameProblem(options.topic) ?? layoutProblem(options)
  if (problem) throw invalid(problem)
  const { topic } = options
  const producer = createProducerSession(connection, options)
  const topics = createTopicEnsurer(connection, options)
  let closed = false

  return {
    topic,
    async put(entries) {
      if (closed) {
        throw new DeadLetterError(
          `cannot put dead letters on topic "${topic}": it was closed — create a new one`,
          {
            retryable: false,
            code: 'dead-letter.closed',
            component: 'kafka',
          },
        )
      }
      for (const [index, entry] of entries.entries()) {
        if (
          !isDeadLetterSource(entry?.source) ||
          typeof entry.reason !== 'string' ||
          typeof entry.payload !== 'string'
        ) {
          throw invalid(`dead letter ${index} needs a known source, a reason and a payload string`)
        }
      }
      if (entries.length === 0) return
      const operation = `put ${entries.length} dead letters on topic "${topic}"`
      try {
        await topics.ensure(topic)
        await producer.send(topic, entries.map(encodeDeadLetter))
      } catch (error) {
        throw toDeadLetterError(error, { operation, brokers: connection.brokers })
      }
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.all([producer.close(), topics.close()])
    },
  }
}
