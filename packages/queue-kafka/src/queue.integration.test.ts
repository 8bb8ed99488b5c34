import { describeQueueConformance } from '@sluice/conformance'
import type { QueueError, QueueMessage } from '@sluice/core'
import kafkajs from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import { createKafkaQueue, kafkaQueueCapabilities } from './queue.js'

const brokers = process.env.SLUICE_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092'

describeQueueConformance(
  'kafka',
  () => createKafkaQueue({ brokers, partitions: 4, clientId: 'sluice-conformance' }),
  kafkaQueueCapabilities,
  { time: 'real', close: (queue) => queue.close() },
)

const namespace = () => `kq${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-`

async function until(done: () => boolean, what: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('createKafkaQueue against Kafka', { timeout: 60_000 }, () => {
  const closing: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const close of closing.splice(0)) await close()
  })

  it('produces and consumes without Node warnings (kafkajs#1751 set negative timers: patched in patches/)', async () => {
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    closing.push(async () => {
      process.off('warning', onWarning)
    })
    const queue = createKafkaQueue({ brokers, partitions: 2 })
    closing.push(() => queue.close())
    const ns = namespace()
    await queue.produce(`${ns}topic`, [{ key: null, value: 'one' }])
    const received: QueueMessage[] = []
    await queue.consume(`${ns}topic`, { group: `${ns}g` }, async (batch) => {
      received.push(...batch)
    })
    await until(
      () => received.length >= 1,
      () => 'the record',
    )
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings.map((warning) => `${warning.name}: ${warning.message}`)).toEqual([])
  })

  it('keeps one key in one partition: every record of a key carries the same partition in its id', async () => {
    const queue = createKafkaQueue({ brokers, partitions: 6 })
    closing.push(() => queue.close())
    const ns = namespace()
    const records = Array.from({ length: 120 }, (_, i) => ({ key: `${ns}k${i % 12}`, value: String(i) }))
    await queue.produce(`${ns}topic`, records)
    const received: QueueMessage[] = []
    await queue.consume(`${ns}topic`, { group: `${ns}g` }, async (batch) => {
      received.push(...batch)
    })
    await until(
      () => received.length >= records.length,
      () => `${records.length} records, got ${received.length}`,
    )
    const partitionsByKey = new Map<string, Set<string>>()
    for (const message of received) {
      const partitions = partitionsByKey.get(String(message.key)) ?? new Set()
      partitions.add(message.id.split(':')[0] ?? '')
      partitionsByKey.set(String(message.key), partitions)
    }
    expect([...partitionsByKey.values()].every((partitions) => partitions.size === 1)).toBe(true)
    // Twelve keys over six partitions: more than one partition is in use.
    expect(new Set(received.map((m) => m.id.split(':')[0])).size).toBeGreaterThan(1)
  })

  it('runs `consumers` members of the group in one consume, which share the partitions and leave on stop', async () => {
    const queue = createKafkaQueue({ brokers, partitions: 4, consumers: 3 })
    closing.push(() => queue.close())
    const ns = namespace()
    const topic = `${ns}topic`
    const records = Array.from({ length: 40 }, (_, i) => ({ key: `${ns}k${i % 8}`, value: String(i) }))
    await queue.produce(topic, records)
    const received = new Set<string>()
    const subscription = await queue.consume(topic, { group: `${ns}g` }, async (batch) => {
      for (const message of batch) received.add(message.value)
    })
    await until(
      () => received.size >= records.length,
      () => `${records.length} records, got ${received.size}`,
    )
    const admin = new kafkajs.Kafka({
      brokers: brokers.split(','),
      logLevel: kafkajs.logLevel.NOTHING,
    }).admin()
    await admin.connect()
    closing.push(() => admin.disconnect())
    const describeGroup = async () => (await admin.describeGroups([`${ns}g`])).groups[0]
    // The last member's join may still be rebalancing the others; assignments are final once stable.
    let group = await describeGroup()
    for (const deadline = Date.now() + 30_000; group?.state !== 'Stable' && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      group = await describeGroup()
    }
    const members = group?.members ?? []
    const shares = members.map(
      (member) =>
        kafkajs.AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[topic] ?? [],
    )
    expect(members).toHaveLength(3)
    expect(shares.every((share) => share.length > 0)).toBe(true)
    expect(shares.flat().sort()).toEqual([0, 1, 2, 3])
    await subscription.stop()
    expect((await describeGroup())?.members).toEqual([])
  })

  it('keeps a consumer in its group while one handler call outlasts the session timeout', async () => {
    const errors: QueueError[] = []
    const queue = createKafkaQueue({
      brokers,
      partitions: 1,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      onError: (error) => errors.push(error),
    })
    closing.push(() => queue.close())
    const ns = namespace()
    await queue.produce(`${ns}topic`, [{ key: 'k', value: 'slow' }])
    const deliveries: QueueMessage[] = []
    await queue.consume(`${ns}topic`, { group: `${ns}g` }, async (batch) => {
      deliveries.push(...batch)
      if (deliveries.length === 1) await new Promise((resolve) => setTimeout(resolve, 9_000))
    })
    await until(
      () => deliveries.length >= 1,
      () => 'the first delivery',
    )
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    await queue.produce(`${ns}topic`, [{ key: 'k', value: 'next' }])
    await until(
      () => deliveries.some((m) => m.value === 'next'),
      () => 'the record produced after the slow call',
    )
    // Dropped from the group, the consumer would have been handed 'slow' again after rejoining.
    expect(deliveries.map((m) => m.value)).toEqual(['slow', 'next'])
    expect(errors).toEqual([])
  })
  it('rejects consume with a final QueueError when the group refuses the consumer, instead of idling', async () => {
    const errors: QueueError[] = []
    // Below the broker's group.min.session.timeout.ms (6 s): JoinGroup fails with INVALID_SESSION_TIMEOUT.
    const queue = createKafkaQueue({
      brokers,
      sessionTimeoutMs: 1_000,
      heartbeatIntervalMs: 300,
      logLevel: 'nothing',
      onError: (error) => errors.push(error),
    })
    closing.push(() => queue.close())
    const ns = namespace()
    const error = await queue
      .consume(`${ns}topic`, { group: `${ns}g` }, async () => {})
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'queue.protocol', retryable: false, component: 'kafka' })
    expect((error as Error).message).toContain('INVALID_SESSION_TIMEOUT')
    expect(errors).toEqual([])
  })
})
