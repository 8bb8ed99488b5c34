import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { QueueError, QueueMessage } from '@sluice/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaQueue } from './queue.js'

// A broker of its own on other ports: restarting the shared one would break the suites using it.
const port = Number(process.env.SLUICE_TEST_KAFKA_DURABILITY_PORT ?? 9192)
const brokers = `127.0.0.1:${port}`
const script = fileURLToPath(new URL('../../../tooling/services/kafka.sh', import.meta.url))
const run = promisify(execFile)
const service = (command: 'start' | 'stop' | 'restart') =>
  run('bash', [script, command], {
    env: { ...process.env, SLUICE_KAFKA_PORT: String(port), SLUICE_KAFKA_CONTROLLER_PORT: String(port + 1) },
    timeout: 150_000,
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(done: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)
    await sleep(50)
  }
}

interface Acknowledged {
  id: string
  key: string
  seq: number
}

describe('a Kafka broker restart during consumption', () => {
  beforeAll(() => service('start'), 150_000)
  afterAll(() => service('stop'), 150_000)

  it('loses and skips no acknowledged event, keeps per-key order, and redelivers at most the last uncommitted slice', {
    timeout: 150_000,
  }, async () => {
    const ns = `kd${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-`
    const topic = `${ns}events`
    const group = `${ns}pipeline`
    const partitions = 6
    const maxBatchSize = 10
    const keys = 40
    const total = 2_400
    const errors: QueueError[] = []
    // kafkajs restarts a consumer that lost its broker as a new group member; the old member keeps its
    // partitions until its session expires, so a shorter session shortens the pause after the restart.
    const options = {
      brokers,
      partitions,
      partitionsConsumedConcurrently: 2,
      sessionTimeoutMs: 10_000,
      logLevel: 'nothing' as const,
    }

    const producer = createKafkaQueue(options)
    const records = Array.from({ length: total }, (_, seq) => ({
      key: `${ns}k${seq % keys}`,
      value: String(seq),
    }))
    for (let i = 0; i < total; i += 400) await producer.produce(topic, records.slice(i, i + 400))
    await producer.close()

    const queue = createKafkaQueue({ ...options, onError: (error) => errors.push(error) })
    const calls: Acknowledged[][] = []
    const acknowledged = new Set<string>()
    let restart: Promise<unknown> | undefined
    let restarted = false
    let acknowledgedAtRestart = 0
    let acknowledgedWhenBack = 0
    const subscription = await queue.consume(topic, { group, maxBatchSize }, async (batch) => {
      // Slow while the broker restarts, so that consumption is still under way when it is back.
      await sleep(restart && !restarted ? 200 : 20)
      calls.push(batch.map((m: QueueMessage) => ({ id: m.id, key: String(m.key), seq: Number(m.value) })))
      for (const message of batch) acknowledged.add(message.value)
      if (!restart && acknowledged.size >= total / 4) {
        acknowledgedAtRestart = acknowledged.size
        restart = service('restart').then(() => {
          restarted = true
          acknowledgedWhenBack = acknowledged.size
        })
      }
    })

    await until(
      () => acknowledged.size >= total,
      () =>
        `all ${total} events acknowledged, got ${acknowledged.size} (restart ${restarted ? 'done' : 'pending'})`,
      120_000,
    )
    await restart
    await subscription.stop()
    await queue.close()

    // The broker restarted mid-consumption: events were acknowledged before it and after it.
    expect(acknowledgedAtRestart).toBeGreaterThan(0)
    expect(acknowledgedWhenBack).toBeLessThan(total)
    // Every produced event was acknowledged at least once.
    expect(acknowledged).toEqual(new Set(records.map((r) => r.value)))
    // Per key, each acknowledgement is the next event of the key or a step back (a redelivery of
    // what was not committed yet) — never a jump past an event.
    const seqsByKey = new Map<string, number[]>()
    for (const record of records)
      seqsByKey.set(record.key, [...(seqsByKey.get(record.key) ?? []), Number(record.value)])
    const position = new Map<string, number>()
    for (const call of calls) {
      for (const { key, seq } of call) {
        const index = seqsByKey.get(key)?.indexOf(seq) ?? -1
        const previous = position.get(key) ?? -1
        expect(index, `event ${seq} of key ${key} after event index ${previous}`).toBeLessThanOrEqual(
          previous + 1,
        )
        expect(index).toBeGreaterThanOrEqual(0)
        position.set(key, index)
      }
    }
    // Failures while the broker was away were reported as retryable (the consumer restarts itself).
    expect(errors.filter((error) => !error.retryable)).toEqual([])

    // A fresh consumer of the group (another process, say) starts after what was committed.
    const fresh = createKafkaQueue(options)
    const later = Array.from({ length: 20 }, (_, i) => ({ key: `${ns}k${i % keys}`, value: `later-${i}` }))
    const received: QueueMessage[] = []
    await fresh.consume(topic, { group, maxBatchSize }, async (batch) => {
      received.push(...batch)
    })
    await fresh.produce(topic, later)
    await until(
      () => later.every((r) => received.some((m) => m.value === r.value)),
      () => `the ${later.length} events produced after the restart, got ${received.length} events`,
      60_000,
    )
    await sleep(1_000)
    await fresh.close()
    const lastAcknowledgedOffset = new Map<string, number>()
    for (const { id } of calls.flat()) {
      const [partition = '', offset = ''] = id.split(':')
      lastAcknowledgedOffset.set(
        partition,
        Math.max(lastAcknowledgedOffset.get(partition) ?? -1, Number(offset)),
      )
    }
    const redelivered = received.filter((m) => !m.value.startsWith('later-'))
    for (const message of redelivered) {
      const [partition = '', offset = ''] = message.id.split(':')
      // Only the tail of a partition that was acknowledged but not yet committed may come again.
      expect(Number(offset), `redelivered ${message.id}`).toBeGreaterThan(
        (lastAcknowledgedOffset.get(partition) ?? -1) - maxBatchSize,
      )
    }
    expect(redelivered.length).toBeLessThanOrEqual(partitions * maxBatchSize)
  })
})
