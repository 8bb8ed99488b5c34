import { PubSub } from '@google-cloud/pubsub'
import { QueueError, type QueueRecord } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createPubSubQueue, type PubSubQueueOptions, pubSubQueueCapabilities } from './queue.js'
import { refusing, unreachable } from './test-support.js'

describe('createPubSubQueue without a service', () => {
  it('claims ordering by key, redelivery, shared consumption and durability', () => {
    expect(pubSubQueueCapabilities).toEqual({
      orderedByKey: true,
      redelivers: true,
      sharedConsumption: true,
      durable: true,
    })
    expect(createPubSubQueue(unreachable).capabilities).toBe(pubSubQueueCapabilities)
  })

  it.each<[Partial<PubSubQueueOptions>, RegExp]>([
    [{ maxConcurrentBatches: 0 }, /maxConcurrentBatches/],
    [{ lingerMs: -1 }, /lingerMs/],
    [{ redeliveryDelayMs: Number.NaN }, /redeliveryDelayMs/],
    [{ streams: 1.5 }, /streams/],
    [{ ackDeadlineSeconds: 5 }, /ackDeadlineSeconds must be a whole number from 10 to 600/],
    [{ flowControl: { maxMessages: 0 } }, /flowControl\.maxMessages/],
    [{ flowControl: { maxBytes: -1 } }, /flowControl\.maxBytes/],
    [{ topicRetentionSeconds: 5 }, /topicRetentionSeconds/],
  ])('rejects the options %j with a QueueError', (options, message) => {
    expect(() => createPubSubQueue({ ...unreachable, ...options })).toThrow(message)
    expect(() => createPubSubQueue({ ...unreachable, ...options })).toThrow(QueueError)
  })

  it('rejects invalid topics, groups, records and handlers before talking to Pub/Sub', async () => {
    const queue = createPubSubQueue(unreachable)
    const invalid = { code: 'queue.invalid', retryable: false }
    await expect(queue.produce('ab', [])).rejects.toMatchObject(invalid)
    await expect(
      queue.produce('events', [{ key: 1, value: 'v' } as unknown as QueueRecord]),
    ).rejects.toMatchObject({
      ...invalid,
      message: expect.stringContaining('record 0 has a number key'),
    })
    await expect(queue.consume('events', { group: '' }, async () => {})).rejects.toThrow(/consumer group/)
    await expect(queue.consume('events', { group: 'goog-group' }, async () => {})).rejects.toThrow(
      /not a valid Pub\/Sub name/,
    )
    await expect(
      queue.consume('events', { group: 'group', maxBatchSize: 0 }, async () => {}),
    ).rejects.toThrow(/maxBatchSize/)
    await expect(
      queue.consume('events', { group: 'group' }, undefined as unknown as () => Promise<void>),
    ).rejects.toThrow(/handler function/)
    await queue.close()
  })

  it('resolves a produce of no records without reaching for the service', async () => {
    const queue = createPubSubQueue(unreachable)
    await expect(queue.produce('events', [])).resolves.toBeUndefined()
    await queue.close()
  })

  it('reports an unreachable emulator as a retryable QueueError that says what to check', async () => {
    const queue = createPubSubQueue(refusing)
    const failure = queue.produce('events', [{ key: 'k', value: 'v' }])
    await expect(failure).rejects.toBeInstanceOf(QueueError)
    await expect(failure).rejects.toMatchObject({
      code: 'queue.unavailable',
      retryable: true,
      message:
        "[sluice:pubsub] cannot create topic 'events': Pub/Sub at 127.0.0.1:1 is unreachable — is the Pub/Sub " +
        'emulator running at 127.0.0.1:1? (apiEndpoint)',
    })
    await expect(queue.consume('events', { group: 'group' }, async () => {})).rejects.toMatchObject({
      code: 'queue.unavailable',
    })
    await queue.close()
  }, 20_000)

  it('refuses to work after close', async () => {
    const queue = createPubSubQueue(unreachable)
    await queue.close()
    await expect(queue.produce('events', [])).rejects.toMatchObject({
      code: 'queue.closed',
      retryable: false,
    })
    await expect(queue.consume('events', { group: 'group' }, async () => {})).rejects.toMatchObject({
      code: 'queue.closed',
    })
  })

  it('leaves a client it was given open', async () => {
    const pubsub = new PubSub({ projectId: 'p', apiEndpoint: '127.0.0.1:1' })
    await createPubSubQueue({ pubsub }).close()
    expect(pubsub.isOpen).toBe(true)
    await pubsub.close()
  })
})
