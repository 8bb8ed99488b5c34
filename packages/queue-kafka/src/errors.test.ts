import { DeadLetterError, QueueError, SinkError } from '@sluice/core'
import kafkajs from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { parseBrokers, redact } from './connection.js'
import { classifyKafkaError, toDeadLetterError, toQueueError, toSinkError } from './errors.js'

const brokers = ['127.0.0.1:9092']
const context = { operation: 'produce to topic "events"', brokers }

/** A broker error the way kafkajs builds it from a response's error code. */
const protocolError = (type: string, code: number, retriable: boolean) =>
  new kafkajs.KafkaJSProtocolError({
    type,
    code,
    retriable,
    message: `The broker says ${type}`,
  } as unknown as Error)

/** kafkajs error classes its type declarations leave out or declare without arguments. */
const untyped = kafkajs as unknown as Record<
  'KafkaJSNoBrokerAvailableError' | 'KafkaJSSASLAuthenticationError',
  new (
    message?: string,
  ) => Error
>

const connectionRefused = () =>
  new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', {
    broker: '127.0.0.1:9092',
    code: 'ECONNREFUSED',
  })

describe('toQueueError', () => {
  it('maps an unreachable broker to a retryable queue.unavailable naming the broker and what to do', () => {
    const error = toQueueError(connectionRefused(), context)
    expect(error).toBeInstanceOf(QueueError)
    expect(error).toMatchObject({ code: 'queue.unavailable', retryable: true, component: 'kafka' })
    expect(error.message).toBe(
      '[sluice:kafka] cannot produce to topic "events": broker 127.0.0.1:9092 unreachable ' +
        '(Connection error: connect ECONNREFUSED 127.0.0.1:9092) — is Kafka running and are the brokers right? (KAFKA_BROKERS)',
    )
    expect(error.cause).toBeInstanceOf(kafkajs.KafkaJSConnectionError)
  })

  it('judges KafkaJSNumberOfRetriesExceeded by its cause: a broker that stayed down may come back', () => {
    const exhausted = new kafkajs.KafkaJSNumberOfRetriesExceeded(connectionRefused(), {
      retryCount: 5,
      retryTime: 4000,
    })
    expect(exhausted.retriable).toBe(false)
    const error = toQueueError(exhausted, context)
    expect(error).toMatchObject({ code: 'queue.unavailable', retryable: true })
    expect(error.message).toContain('unreachable after retries')
  })

  it('maps a request timeout to a retryable queue.timeout', () => {
    const timeout = new kafkajs.KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', {
      broker: '127.0.0.1:9092',
      clientId: 'sluice',
      correlationId: 3,
      createdAt: 0,
      sentAt: 0,
      pendingDuration: 0,
    })
    expect(toQueueError(timeout, context)).toMatchObject({ code: 'queue.timeout', retryable: true })
    expect(toQueueError(protocolError('REQUEST_TIMED_OUT', 7, true), context).code).toBe('queue.timeout')
  })

  it('maps the rebalance family to a retryable queue.rebalance, though kafkajs calls it non-retriable', () => {
    for (const [type, code] of [
      ['REBALANCE_IN_PROGRESS', 27],
      ['ILLEGAL_GENERATION', 22],
      ['UNKNOWN_MEMBER_ID', 25],
      ['NOT_COORDINATOR_FOR_GROUP', 16],
    ] as const) {
      const error = toQueueError(protocolError(type, code, false), context)
      expect(error, type).toMatchObject({ code: 'queue.rebalance', retryable: true })
      expect(error.message).toContain(type)
    }
  })

  it('maps authorization and authentication failures to a non-retryable queue.unauthorized', () => {
    for (const type of [
      'TOPIC_AUTHORIZATION_FAILED',
      'GROUP_AUTHORIZATION_FAILED',
      'CLUSTER_AUTHORIZATION_FAILED',
    ]) {
      const error = toQueueError(protocolError(type, 29, false), context)
      expect(error, type).toMatchObject({ code: 'queue.unauthorized', retryable: false })
      expect(error.message).toContain(`(${type}) — check the sasl/ssl options and the ACLs`)
    }
    const sasl = new untyped.KafkaJSSASLAuthenticationError(
      'SASL SCRAM SHA256 authentication failed: bad credentials',
    )
    expect(toQueueError(sasl, context)).toMatchObject({ code: 'queue.unauthorized', retryable: false })
  })

  it('keeps retryable broker-side conditions retryable and final ones final', () => {
    expect(toQueueError(protocolError('NOT_LEADER_FOR_PARTITION', 6, true), context)).toMatchObject({
      code: 'queue.unavailable',
      retryable: true,
    })
    expect(toQueueError(protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3, true), context)).toMatchObject({
      code: 'queue.unknown-topic',
      retryable: true,
    })
    expect(toQueueError(protocolError('MESSAGE_TOO_LARGE', 10, false), context)).toMatchObject({
      code: 'queue.too-large',
      retryable: false,
    })
    expect(toQueueError(protocolError('INVALID_REPLICATION_FACTOR', 38, false), context)).toMatchObject({
      code: 'queue.invalid',
      retryable: false,
    })
    // An unlisted broker error keeps kafkajs's own verdict.
    expect(toQueueError(protocolError('OFFSET_NOT_AVAILABLE', 78, true), context)).toMatchObject({
      code: 'queue.protocol',
      retryable: true,
    })
    expect(toQueueError(protocolError('INVALID_FETCH_SIZE', 4, false), context)).toMatchObject({
      code: 'queue.protocol',
      retryable: false,
    })
  })

  it('looks inside aggregate errors (createTopics reports per topic)', () => {
    const aggregate = new kafkajs.KafkaJSAggregateError('Topic creation errors', [
      protocolError('INVALID_REPLICATION_FACTOR', 38, false),
    ])
    expect(toQueueError(aggregate, context)).toMatchObject({ code: 'queue.invalid', retryable: false })
  })

  it('maps generic kafkajs errors by their retriable flag and unknown errors to non-retryable', () => {
    expect(toQueueError(new kafkajs.KafkaJSNonRetriableError('Invalid topics array'), context)).toMatchObject(
      {
        code: 'queue.failed',
        retryable: false,
      },
    )
    expect(toQueueError(new kafkajs.KafkaJSError('Something transient'), context)).toMatchObject({
      code: 'queue.failed',
      retryable: true,
    })
    const unknown = toQueueError(new TypeError('boom'), context)
    expect(unknown).toMatchObject({ code: 'queue.failed', retryable: false })
    expect(unknown.message).toContain('unexpected error talking to broker 127.0.0.1:9092 (boom)')
    expect(toQueueError('a string', context).message).toContain('(a string)')
  })

  it('names every broker when there are several, and returns QueueErrors unchanged', () => {
    const error = toQueueError(new untyped.KafkaJSNoBrokerAvailableError(), {
      operation: 'consume topic "t"',
      brokers: ['a:9092', 'b:9092'],
    })
    expect(error.message).toContain('brokers a:9092, b:9092 unreachable')
    expect(toQueueError(error, context)).toBe(error)
  })
})

describe('toSinkError and toDeadLetterError', () => {
  it('use the same classification under their own port', () => {
    expect(toSinkError(connectionRefused(), context)).toBeInstanceOf(SinkError)
    expect(toSinkError(connectionRefused(), context)).toMatchObject({
      code: 'sink.unavailable',
      retryable: true,
    })
    expect(toSinkError(protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false), context)).toMatchObject({
      code: 'sink.unauthorized',
      retryable: false,
    })
    expect(toDeadLetterError(connectionRefused(), context)).toBeInstanceOf(DeadLetterError)
    expect(toDeadLetterError(connectionRefused(), context).code).toBe('dead-letter.unavailable')
  })
})

describe('credentials never reach messages', () => {
  it('redacts user:password@ from brokers and from error text', () => {
    expect(redact('alice:s3cret@kafka.example.com:9093')).toBe('***@kafka.example.com:9093')
    expect(redact('sasl://bob:hunter2@host:9092 failed')).toBe('sasl://***@host:9092 failed')
    const error = toQueueError(
      new kafkajs.KafkaJSConnectionError('Connection error: alice:s3cret@host:9092 refused', {
        broker: 'alice:s3cret@host:9092',
      }),
      { operation: 'produce to topic "t"', brokers: ['***@host:9092'] },
    )
    expect(error.message).not.toContain('s3cret')
    expect(error.message).toContain('broker ***@host:9092 unreachable')
  })

  it('classifies without the brokers leaking through classifyKafkaError either', () => {
    const failure = classifyKafkaError(connectionRefused(), ['***@host:9092'])
    expect(failure).toMatchObject({ kind: 'unavailable', retryable: true })
  })
})

describe('parseBrokers', () => {
  it('accepts a list or a comma-separated string of host:port', () => {
    expect(parseBrokers('a:9092, b:9093')).toEqual(['a:9092', 'b:9093'])
    expect(parseBrokers(['127.0.0.1:9092'])).toEqual(['127.0.0.1:9092'])
  })

  it('explains what is wrong otherwise, without credentials', () => {
    expect(parseBrokers('')).toMatch(/brokers is empty/)
    expect(parseBrokers([])).toMatch(/brokers is empty/)
    expect(parseBrokers('kafka://host:9092')).toMatch(/is not host:port/)
    expect(parseBrokers('u:pw@host')).toBe('broker "***@host" is not host:port (KAFKA_BROKERS)')
  })
})
