import { QueueError } from '@sluice/core'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { createKafkaQueue, decodeHeaders, kafkaQueueCapabilities, toQueueMessage } from './queue.js'

const record = (overrides: Partial<KafkaMessage> = {}): KafkaMessage =>
  ({
    offset: '41',
    key: Buffer.from('2:user-1'),
    value: Buffer.from('{"event":"ü"}'),
    timestamp: '1795267200000',
    attributes: 0,
    size: 0,
    headers: {},
    ...overrides,
  }) as unknown as KafkaMessage

describe('toQueueMessage', () => {
  it('gives a record the id <partition>:<offset>, text key and value, its timestamp, and attempt 1 on first delivery', () => {
    expect(toQueueMessage(3, record(), new Map())).toEqual({
      id: '3:41',
      key: '2:user-1',
      value: '{"event":"ü"}',
      deliveryAttempt: 1,
      publishedAt: 1795267200000,
    })
  })

  it('counts earlier rejected deliveries of the same record', () => {
    expect(toQueueMessage(3, record(), new Map([['3:41', 2]])).deliveryAttempt).toBe(3)
    expect(toQueueMessage(4, record(), new Map([['3:41', 2]])).deliveryAttempt).toBe(1)
  })

  it('keeps a null key null and reads a tombstone (null value) as empty text', () => {
    const message = toQueueMessage(0, record({ key: null, value: null }), new Map())
    expect(message.key).toBeNull()
    expect(message.value).toBe('')
  })

  it('decodes headers to text, keeping the last of repeated ones', () => {
    const message = toQueueMessage(
      0,
      record({
        headers: { a: Buffer.from('ünï'), b: 'plain', c: [Buffer.from('1'), Buffer.from('2')], d: undefined },
      }),
      new Map(),
    )
    expect(message.headers).toEqual({ a: 'ünï', b: 'plain', c: '2' })
    expect(decodeHeaders(undefined)).toBeUndefined()
    expect(decodeHeaders({})).toBeUndefined()
  })
})

describe('createKafkaQueue', () => {
  it('declares every capability of the port', () => {
    expect(kafkaQueueCapabilities).toEqual({
      orderedByKey: true,
      redelivers: true,
      sharedConsumption: true,
      durable: true,
    })
  })

  it('rejects invalid options with a non-retryable QueueError', () => {
    const cases: [Parameters<typeof createKafkaQueue>[0], RegExp][] = [
      [{ brokers: '' }, /brokers is empty/],
      [{ brokers: 'nohost' }, /is not host:port/],
      [{ brokers: 'h:1', partitions: 0 }, /partitions must be a positive integer/],
      [{ brokers: 'h:1', replicationFactor: 1.5 }, /replicationFactor must be a positive integer/],
      [
        { brokers: 'h:1', heartbeatIntervalMs: 5_000, sessionTimeoutMs: 5_000 },
        /must be lower than sessionTimeoutMs/,
      ],
      [{ brokers: 'h:1', redeliveryDelayMs: -1 }, /redeliveryDelayMs/],
      [{ brokers: 'h:1', partitionsConsumedConcurrently: 0 }, /partitionsConsumedConcurrently/],
      [{ brokers: 'h:1', consumers: 1.5 }, /consumers must be a positive integer, got 1.5/],
      [{ brokers: 'h:1', retries: -1 }, /retries must be a non-negative integer/],
    ]
    for (const [options, message] of cases) {
      let thrown: unknown
      try {
        createKafkaQueue(options)
      } catch (error) {
        thrown = error
      }
      expect(thrown, String(message)).toBeInstanceOf(QueueError)
      expect(thrown).toMatchObject({ code: 'queue.invalid', retryable: false })
      expect((thrown as Error).message).toMatch(message)
    }
  })

  it('rejects invalid topics, records and consume options before talking to a broker', async () => {
    // Nothing listens on port 1: any network use would fail differently (queue.unavailable).
    const queue = createKafkaQueue({ brokers: '127.0.0.1:1', retries: 0 })
    const invalid = { code: 'queue.invalid', retryable: false }
    await expect(queue.produce('bad topic!', [])).rejects.toMatchObject(invalid)
    await expect(queue.produce('t', [{ key: 'k', value: 1 as unknown as string }])).rejects.toMatchObject(
      invalid,
    )
    await expect(queue.produce('t', [{ key: 2 as unknown as string, value: 'v' }])).rejects.toMatchObject(
      invalid,
    )
    await expect(
      queue.produce('t', [{ key: null, value: 'v', headers: { h: 3 as unknown as string } }]),
    ).rejects.toThrow(/header "h" must be a string/)
    await expect(queue.consume('t', { group: '' }, async () => {})).rejects.toThrow(/consumer group/)
    await expect(queue.consume('t', { group: 'g', maxBatchSize: 0 }, async () => {})).rejects.toThrow(
      /maxBatchSize/,
    )
    await expect(queue.consume('.', { group: 'g' }, async () => {})).rejects.toThrow(
      /not a valid Kafka topic name/,
    )
    await expect(queue.produce('t', [])).resolves.toBeUndefined()
    await queue.close()
    await expect(queue.produce('t', [])).rejects.toMatchObject({ code: 'queue.closed', retryable: false })
    await expect(queue.consume('t', { group: 'g' }, async () => {})).rejects.toMatchObject({
      code: 'queue.closed',
    })
  })

  it('fails a produce to an unreachable broker with a retryable error naming it', async () => {
    const queue = createKafkaQueue({
      brokers: '127.0.0.1:1',
      retries: 0,
      connectionTimeoutMs: 500,
      logLevel: 'nothing',
    })
    const error = await queue.produce('t', [{ key: null, value: 'v' }]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QueueError)
    expect(error).toMatchObject({ code: 'queue.unavailable', retryable: true })
    expect((error as Error).message).toMatch(
      /^\[sluice:kafka\] cannot produce to topic "t" \(creating the topic\): broker 127\.0\.0\.1:1 unreachable/,
    )
    await queue.close()
  })
})
