import { DeadLetterError, QueueError, SinkError, type SluiceError } from '@sluice/core'
import { redact } from './connection.js'

/** What a kafkajs failure means for Sluice, before it is wrapped in a port error. */
export interface KafkaFailure {
  /** Code suffix: `unavailable`, `timeout`, `rebalance`, `unauthorized`, `unknown-topic`, … */
  kind: string
  retryable: boolean
  /** Why, readable, ending in what to do. */
  reason: string
}

/** Where a failure happened, for the message. */
export interface KafkaErrorContext {
  /** What was being done, e.g. `produce to topic "events"`. */
  operation: string
  /** The brokers (already redacted). */
  brokers: readonly string[]
}

interface ErrorLike {
  name?: unknown
  message?: unknown
  type?: unknown
  retriable?: unknown
  broker?: unknown
  cause?: unknown
  originalError?: unknown
  errors?: unknown
}

const asErrorLike = (error: unknown): ErrorLike =>
  typeof error === 'object' && error !== null ? (error as ErrorLike) : { message: String(error) }

/** The innermost error: kafkajs wraps the real cause in NumberOfRetriesExceeded and aggregates. */
function rootCause(error: unknown): ErrorLike {
  let current = asErrorLike(error)
  for (let depth = 0; depth < 10; depth++) {
    const next = current.originalError ?? current.cause
    if (Array.isArray(current.errors) && current.errors.length > 0) {
      current = asErrorLike(current.errors[0])
      continue
    }
    if (next === undefined || next === null || typeof next !== 'object') break
    current = asErrorLike(next)
  }
  return current
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '')

const unavailableTypes = new Set([
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
  'KAFKA_STORAGE_ERROR',
  'NETWORK_EXCEPTION',
])
const rebalanceTypes = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'NOT_COORDINATOR_FOR_GROUP',
  'FENCED_INSTANCE_ID',
])
const authorizationTypes = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'DELEGATION_TOKEN_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
])
const invalidTypes = new Set([
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_PARTITIONS',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_REPLICA_ASSIGNMENT',
  'INVALID_CONFIG',
  'POLICY_VIOLATION',
  'INVALID_REQUIRED_ACKS',
  'CORRUPT_MESSAGE',
  'INVALID_RECORD',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'TOPIC_DELETION_DISABLED',
])

/**
 * Classifies a kafkajs error (or anything thrown by a kafkajs call). Retries kafkajs already made
 * do not make a failure final: a broker that was unreachable after five tries may be back later,
 * so `KafkaJSNumberOfRetriesExceeded` is judged by its cause.
 */
export function classifyKafkaError(error: unknown, brokers: readonly string[]): KafkaFailure {
  const outer = asErrorLike(error)
  const root = rootCause(error)
  const name = text(root.name)
  const type = text(root.type)
  const message = redact(text(root.message))
  const retried = text(outer.name) === 'KafkaJSNumberOfRetriesExceeded'
  const where = brokers.length === 1 ? `broker ${brokers[0]}` : `brokers ${brokers.join(', ')}`
  const detail = message ? ` (${message})` : ''

  if (
    name === 'KafkaJSConnectionError' ||
    name === 'KafkaJSConnectionClosedError' ||
    name === 'KafkaJSNoBrokerAvailableError' ||
    name === 'KafkaJSBrokerNotFound' ||
    name === 'KafkaJSMetadataNotLoaded'
  ) {
    const broker = text(root.broker)
    return {
      kind: 'unavailable',
      retryable: true,
      reason:
        `${broker ? `broker ${redact(broker)}` : where} unreachable${retried ? ' after retries' : ''}${detail}` +
        ' — is Kafka running and are the brokers right? (KAFKA_BROKERS)',
    }
  }
  if (name === 'KafkaJSRequestTimeoutError' || name === 'KafkaJSTimeout' || type === 'REQUEST_TIMED_OUT') {
    return {
      kind: 'timeout',
      retryable: true,
      reason: `${where} did not answer in time${detail} — the cluster may be overloaded or restarting; try again`,
    }
  }
  if (name === 'KafkaJSSASLAuthenticationError' || authorizationTypes.has(type)) {
    return {
      kind: 'unauthorized',
      retryable: false,
      reason:
        `${where} refused access${type ? ` (${type})` : detail} — check the sasl/ssl options and the ACLs ` +
        'for this topic and consumer group',
    }
  }
  if (rebalanceTypes.has(type)) {
    return {
      kind: 'rebalance',
      retryable: true,
      reason: `the consumer group is rebalancing (${type}) — the batch is delivered again after it settles`,
    }
  }
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
    return {
      kind: 'unknown-topic',
      retryable: true,
      reason: `${where} does not know the topic (UNKNOWN_TOPIC_OR_PARTITION) — create it, or let this adapter create it`,
    }
  }
  if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') {
    return {
      kind: 'too-large',
      retryable: false,
      reason: `a record is larger than the broker accepts (${type}) — raise message.max.bytes or send smaller records`,
    }
  }
  if (invalidTypes.has(type)) {
    return { kind: 'invalid', retryable: false, reason: `${where} rejected the request (${type})${detail}` }
  }
  if (name === 'KafkaJSServerDoesNotSupportApiKey') {
    return {
      kind: 'unsupported',
      retryable: false,
      reason: `${where} does not support a request kafkajs needs${detail} — use Kafka 0.11 … 3.9`,
    }
  }
  if (unavailableTypes.has(type)) {
    return {
      kind: 'unavailable',
      retryable: true,
      reason: `${where} cannot serve the request right now (${type}) — a leader election or restart is under way; try again`,
    }
  }
  if (name === 'KafkaJSProtocolError' || type) {
    return {
      kind: 'protocol',
      retryable: root.retriable === true,
      reason: `${where} answered with an error${type ? ` (${type})` : ''}${detail}`,
    }
  }
  if (name.startsWith('KafkaJS')) {
    // A generic kafkajs error: its own `retriable` flag is all there is (false for NonRetriable).
    const retryable = retried ? true : root.retriable === true
    return { kind: 'failed', retryable, reason: `kafkajs failed talking to ${where}${detail}` }
  }
  return { kind: 'failed', retryable: false, reason: `unexpected error talking to ${where}${detail}` }
}

function wrap<E extends SluiceError>(
  make: (
    message: string,
    options: { retryable: boolean; code: string; component: string; cause: unknown },
  ) => E,
  prefix: string,
  error: unknown,
  context: KafkaErrorContext,
): E {
  const failure = classifyKafkaError(error, context.brokers)
  return make(`cannot ${context.operation}: ${failure.reason}`, {
    retryable: failure.retryable,
    code: `${prefix}.${failure.kind}`,
    component: 'kafka',
    cause: error,
  })
}

/** Maps a kafkajs failure of the queue transport to a {@link QueueError} (`queue.<kind>`). */
export function toQueueError(error: unknown, context: KafkaErrorContext): QueueError {
  if (error instanceof QueueError) return error
  return wrap((message, options) => new QueueError(message, options), 'queue', error, context)
}

/** Maps a kafkajs failure of the sink to a {@link SinkError} (`sink.<kind>`). */
export function toSinkError(error: unknown, context: KafkaErrorContext): SinkError {
  if (error instanceof SinkError) return error
  return wrap((message, options) => new SinkError(message, options), 'sink', error, context)
}

/** Maps a kafkajs failure of the dead-letter topic to a {@link DeadLetterError} (`dead-letter.<kind>`). */
export function toDeadLetterError(error: unknown, context: KafkaErrorContext): DeadLetterError {
  if (error instanceof DeadLetterError) return error
  return wrap((message, options) => new DeadLetterError(message, options), 'dead-letter', error, context)
}
