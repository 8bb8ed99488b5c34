import { describeSinkConformance } from '@sluice/conformance'
import { type ProcessedPluginEvent, type QueueMessage, type QueueSubscription, SinkError } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createKafkaDeadLetterTopic, decodeDeadLetter } from './dead-letter.js'
import { createKafkaQueue } from './queue.js'
import { createKafkaSink, eventKey } from './sink.js'

const brokers = process.env.SLUICE_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092'

/** Reads a topic from its start with the package's own consumer, in a group of its own. */
function readTopic(topic: string) {
  const queue = createKafkaQueue({ brokers, clientId: 'sluice-sink-reader' })
  const held: QueueMessage[] = []
  let subscription: Promise<QueueSubscription> | undefined
  return {
    held,
    async read(): Promise<readonly QueueMessage[]> {
      subscription ??= queue.consume(topic, { group: `${topic}-reader` }, async (batch) => {
        held.push(...batch)
      })
      await subscription
      return held
    },
    close: () => queue.close(),
  }
}

// Kafka orders records per partition; a one-partition topic gives the suite's "the order the
// destination holds them" a meaning across keys. Per-key order on many partitions is checked below.
describeSinkConformance(
  'kafka',
  ({ namespace }) => {
    const topic = `${namespace}events`
    const sink = createKafkaSink({ brokers, topic, partitions: 1 })
    const reader = readTopic(topic)
    return {
      sink,
      read: async () => (await reader.read()).map((m) => JSON.parse(m.value) as ProcessedPluginEvent),
      close: reader.close,
    }
  },
  {},
  {
    time: 'real',
    close: async (target) => {
      await target.sink.close()
      await (target as unknown as { close: () => Promise<void> }).close()
    },
  },
)

describe('createKafkaSink against Kafka', { timeout: 60_000 }, () => {
  const closing: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const close of closing.splice(0)) await close()
  })

  it('keys every event by <team_id>:<distinct_id>, keeping each key in one partition, in order', async () => {
    const topic = `ks${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-events`
    const sink = createKafkaSink({ brokers, topic, partitions: 4 })
    const reader = readTopic(topic)
    closing.push(() => sink.close(), reader.close)
    const events: ProcessedPluginEvent[] = Array.from({ length: 200 }, (_, i) => ({
      uuid: crypto.randomUUID(),
      distinct_id: `user-${i % 9}`,
      ip: null,
      team_id: 1 + (i % 2),
      event: 'e',
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
      properties: { i },
    }))
    await sink.write(events.slice(0, 120))
    await sink.write(events.slice(120))
    const deadline = Date.now() + 30_000
    while ((await reader.read()).length < events.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const held = reader.held
    expect(held).toHaveLength(events.length)
    const partitionsByKey = new Map<string, Set<string>>()
    const orderByKey = new Map<string, number[]>()
    for (const message of held) {
      const event = JSON.parse(message.value) as ProcessedPluginEvent
      expect(message.key).toBe(eventKey(event))
      const key = String(message.key)
      partitionsByKey.set(key, (partitionsByKey.get(key) ?? new Set()).add(message.id.split(':')[0] ?? ''))
      orderByKey.set(key, [...(orderByKey.get(key) ?? []), event.properties.i as number])
    }
    expect(partitionsByKey.size).toBe(18)
    for (const [key, partitions] of partitionsByKey) expect(partitions.size, key).toBe(1)
    for (const [key, order] of orderByKey) expect(order, key).toEqual([...order].sort((a, b) => a - b))
  })
  it('refuses an event larger than the broker accepts at once, for good, and goes on writing the others', async () => {
    const topic = `kb${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-events`
    const sink = createKafkaSink({ brokers, topic, partitions: 2 })
    const reader = readTopic(topic)
    closing.push(() => sink.close(), reader.close)
    const event = (properties: Record<string, unknown>): ProcessedPluginEvent => ({
      uuid: crypto.randomUUID(),
      distinct_id: 'user',
      ip: null,
      team_id: 1,
      event: 'e',
      timestamp: new Date().toISOString(),
      properties,
    })
    const started = Date.now()
    const refusal = await sink
      .write([event({ blob: 'x'.repeat(2 * 1024 * 1024) })])
      .catch((error: unknown) => error)
    expect(refusal).toBeInstanceOf(SinkError)
    expect(refusal).toMatchObject({ retryable: false })
    expect(String((refusal as Error).message)).toContain('larger than the broker accepts')
    // Not retried: a refusal for good comes back without the backoff of retriable errors.
    expect(Date.now() - started).toBeLessThan(5_000)

    const kept = event({ i: 1 })
    await sink.write([kept])
    const deadline = Date.now() + 30_000
    while ((await reader.read()).length < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(reader.held.map((message) => (JSON.parse(message.value) as ProcessedPluginEvent).uuid)).toEqual([
      kept.uuid,
    ])
  })
})

describe('createKafkaDeadLetterTopic against Kafka', { timeout: 60_000 }, () => {
  it('puts dead letters that read back with their reason, source, team and config', async () => {
    const topic = `kd${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-dead-letters`
    const dlq = createKafkaDeadLetterTopic({ brokers, topic, partitions: 1 })
    const reader = readTopic(topic)
    try {
      const entries = [
        { source: 'ingestion' as const, reason: 'not JSON', payload: '{', teamId: null, configId: null },
        {
          source: 'export-events' as const,
          reason: 'gave up after 3 tries — 503',
          payload: '[{"a":1}]',
          teamId: 2,
          configId: 9,
        },
      ]
      await dlq.put(entries)
      const deadline = Date.now() + 30_000
      while ((await reader.read()).length < entries.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(reader.held.map(decodeDeadLetter)).toEqual(entries)
    } finally {
      await dlq.close()
      await reader.close()
    }
  })
})
