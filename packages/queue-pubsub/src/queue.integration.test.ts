import { describeQueueConformance } from '@sluice/conformance'
import type { QueueMessage, QueueRecord } from '@sluice/core'
import { afterAll, describe, expect, it } from 'vitest'
import { createPubSubQueue, pubSubQueueCapabilities } from './queue.js'
import { crashableClient, emulatorClient, emulatorHost, projectId, waitUntil } from './test-support.js'

describeQueueConformance(
  'pubsub',
  () => createPubSubQueue({ projectId, apiEndpoint: emulatorHost }),
  pubSubQueueCapabilities,
  { time: 'real', close: (queue) => queue.close() },
)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const values = (messages: readonly { value: string }[]) => messages.map((m) => m.value)

describe('createPubSubQueue against the emulator', { timeout: 90_000 }, () => {
  const namespace = `q${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-`
  const admin = emulatorClient()
  afterAll(() => admin.close())

  const makeRecords = (label: string, count: number, keys: number): QueueRecord[] =>
    Array.from({ length: count }, (_, i) => ({ key: `${label}-k${i % keys}`, value: `${label}:${i}` }))

  /** Each key's records in produce order, and every record there. */
  const expectKeyOrder = (received: readonly QueueMessage[], records: readonly QueueRecord[]) => {
    const seen = new Set<string>()
    const firstDeliveries = received.filter((m) => !seen.has(m.value) && seen.add(m.value))
    for (const key of new Set(records.map((r) => r.key))) {
      expect(
        values(firstDeliveries.filter((m) => m.key === key)),
        `records of key ${String(key)} out of produce order or missing`,
      ).toEqual(values(records.filter((r) => r.key === key)))
    }
  }

  it('gives the next consumer every record a crashed consumer never acknowledged, and none it did', async () => {
    const topic = `${namespace}crash`
    const group = `${namespace}crash-group`
    const producer = createPubSubQueue({ projectId, apiEndpoint: emulatorHost })
    const records = makeRecords('crash', 60, 6)
    await producer.produce(topic, records)

    // The doomed consumer dies in the middle of a batch: its streaming pull ends and nothing it
    // held is acked or nacked any more.
    const doomedClient = crashableClient()
    const doomed = createPubSubQueue({
      pubsub: doomedClient.pubsub,
      ackDeadlineSeconds: 10,
      maxConcurrentBatches: 1,
      onError: () => {},
    })
    const acknowledged: QueueMessage[] = []
    let stuck: QueueMessage[] | undefined
    let release: () => void = () => {}
    const never = new Promise<void>((resolve) => {
      release = resolve
    })
    await doomed.consume(topic, { group, maxBatchSize: 10 }, async (batch) => {
      if (acknowledged.length < 20) {
        acknowledged.push(...batch)
        return
      }
      stuck ??= [...batch]
      await never
    })
    await waitUntil(
      () => stuck !== undefined,
      () => 'the batch the consumer dies in',
    )
    // The client sends acks every 100 ms: let those of the finished batches go out before dying.
    await sleep(1_000)
    await doomedClient.crash()

    const survivor = createPubSubQueue({ projectId, apiEndpoint: emulatorHost })
    const received: QueueMessage[] = []
    await survivor.consume(topic, { group }, async (batch) => {
      received.push(...batch)
    })
    const acked = new Set(values(acknowledged))
    const unacknowledged = records.filter((r) => !acked.has(r.value))
    // Pub/Sub hands them out again once the dead consumer's leases run out (ack deadline 10 s).
    await waitUntil(
      () => new Set(values(received)).size >= unacknowledged.length,
      () =>
        `${unacknowledged.length} unacknowledged records at the survivor, got ${new Set(values(received)).size}`,
      60_000,
    )
    await sleep(1_000)
    expect(
      values(received).filter((value) => acked.has(value)),
      'acknowledged records delivered again',
    ).toEqual([])
    expect(new Set(values(received))).toEqual(new Set(values(unacknowledged)))
    const again = new Set(values(received))
    expect(
      values(stuck ?? []).filter((value) => !again.has(value)),
      'the batch it died in, lost',
    ).toEqual([])
    expectKeyOrder(received, unacknowledged)

    release()
    await Promise.all([survivor.close(), producer.close(), doomed.close()])
    await doomedClient.pubsub.close()
  })

  it('keeps every key in produce order while batches fail and new records keep arriving', async () => {
    const topic = `${namespace}churn`
    const queue = createPubSubQueue({ projectId, apiEndpoint: emulatorHost, redeliveryDelayMs: 20 })
    const records = makeRecords('churn', 480, 8)
    const acknowledged: QueueMessage[] = []
    const retried: QueueMessage[] = []
    let calls = 0
    await queue.consume(topic, { group: `${namespace}churn-group`, maxBatchSize: 16 }, async (batch) => {
      calls += 1
      if (calls % 3 === 0) throw new Error('failing every third batch on purpose')
      await sleep(2)
      acknowledged.push(...batch)
      retried.push(...batch.filter((m) => m.deliveryAttempt > 1))
    })
    for (let i = 0; i < records.length; i += 40) {
      await queue.produce(topic, records.slice(i, i + 40))
      await sleep(30)
    }
    await waitUntil(
      () => new Set(values(acknowledged)).size >= records.length,
      () => `${records.length} records acknowledged, got ${new Set(values(acknowledged)).size}`,
      60_000,
    )
    expectKeyOrder(acknowledged, records)
    expect(retried.length).toBeGreaterThan(0)
    await queue.close()
  })

  it('takes no more than flowControl.maxMessages into its batches while handlers are busy', async () => {
    const topic = `${namespace}flow`
    const producer = createPubSubQueue({ projectId, apiEndpoint: emulatorHost })
    await producer.produce(
      topic,
      Array.from({ length: 100 }, (_, i) => ({ key: null, value: `flow:${i}` })),
    )
    const queue = createPubSubQueue({
      projectId,
      apiEndpoint: emulatorHost,
      flowControl: { maxMessages: 7 },
      maxConcurrentBatches: 3,
    })
    let handedOut = 0
    let finished = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    await queue.consume(topic, { group: `${namespace}flow-group`, maxBatchSize: 5 }, async (batch) => {
      handedOut += batch.length
      await gate
      finished += batch.length
    })
    await waitUntil(
      () => handedOut >= 7,
      () => `7 messages in handler calls, got ${handedOut}`,
    )
    await sleep(1_000)
    // Three calls of five could run; flow control stops the client at seven unacknowledged messages.
    expect(handedOut).toBe(7)
    release()
    await waitUntil(
      () => finished >= 100,
      () => `all 100 records once the handlers go on, got ${finished}`,
    )
    await Promise.all([queue.close(), producer.close()])
  })

  it('refuses a group whose subscription reads another topic, or does not order messages', async () => {
    const queue = createPubSubQueue({ projectId, apiEndpoint: emulatorHost })
    const group = `${namespace}taken`
    await queue.consume(`${namespace}first`, { group }, async () => {}).then((s) => s.stop())
    await expect(queue.consume(`${namespace}second`, { group }, async () => {})).rejects.toMatchObject({
      code: 'queue.invalid',
      retryable: false,
      message: expect.stringContaining('use another group name for this topic'),
    })

    const [topic] = await admin.createTopic(`${namespace}unordered`)
    await topic.createSubscription(`${namespace}unordered-group`)
    await expect(
      queue.consume(`${namespace}unordered`, { group: `${namespace}unordered-group` }, async () => {}),
    ).rejects.toThrow(/without message ordering/)
    await queue.close()
  })

  it('does not create topics or subscriptions with createMissing off', async () => {
    const queue = createPubSubQueue({ projectId, apiEndpoint: emulatorHost, createMissing: false })
    await expect(queue.produce(`${namespace}absent`, [{ key: 'k', value: 'v' }])).rejects.toMatchObject({
      code: 'queue.not-found',
      retryable: false,
    })
    await expect(
      queue.consume(`${namespace}absent`, { group: `${namespace}absent-group` }, async () => {}),
    ).rejects.toMatchObject({
      code: 'queue.not-found',
    })
    const [exists] = await admin.topic(`${namespace}absent`).exists()
    expect(exists).toBe(false)
    await queue.close()
  })
})
