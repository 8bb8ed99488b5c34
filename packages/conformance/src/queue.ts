import type {
  BatchHandler,
  QueueCapabilities,
  QueueMessage,
  QueueRecord,
  QueueSubscription,
  QueueTransport,
} from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/**
 * The QueueTransport conformance suite. Every topic and group is named from the test's namespace,
 * so the suite can run against a shared broker; topics are never assumed empty beyond that.
 *
 * @example
 * describeQueueConformance('memory', ({ time }) => createMemoryQueue({ clock: time.clock }), memoryQueueCapabilities, {
 *   close: (queue) => queue.close(),
 * })
 */
export function describeQueueConformance(
  name: string,
  factory: AdapterFactory<QueueTransport>,
  capabilities: QueueCapabilities,
  options: SuiteOptions<QueueTransport> = {},
): void {
  const real = options.time === 'real'
  /** How long to wait for deliveries before failing. */
  const waitMs = real ? 30_000 : 5_000
  /** How long "nothing more arrives" is watched for. */
  const quietMs = real ? 1_000 : 200

  describe(`QueueTransport conformance: ${name}`, { timeout: real ? 120_000 : 15_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let subscriptions: QueueSubscription[] = []

    beforeEach(() => {
      harness.begin()
    })
    afterEach(async () => {
      const running = subscriptions
      subscriptions = []
      for (const subscription of running) await subscription.stop()
      await harness.end()
    })

    const env = (): SuiteEnv => harness.env
    const topicName = (suffix = 'topic') => `${env().namespace}${suffix}`
    const groupName = (suffix = 'group') => `${env().namespace}${suffix}`

    /** Starts a consumer that the suite stops after the test; its `stop` is safe to call twice. */
    const consume = async (
      queue: QueueTransport,
      topic: string,
      group: string,
      handler: BatchHandler,
      maxBatchSize?: number,
    ): Promise<QueueSubscription> => {
      const subscription = await queue.consume(
        topic,
        maxBatchSize === undefined ? { group } : { group, maxBatchSize },
        handler,
      )
      let stopping: Promise<void> | undefined
      const once: QueueSubscription = {
        stop: () => {
          stopping ??= subscription.stop()
          return stopping
        },
      }
      subscriptions.push(once)
      return once
    }

    /** Polls `done` while letting time pass for the adapter; fails with `what()` after `waitMs`. */
    const until = async (done: () => boolean, what: () => string): Promise<void> => {
      const deadline = Date.now() + waitMs
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${waitMs} ms waiting for ${what()}`)
        await env().time.advance(real ? 20 : 50)
      }
    }

    /** Resolves with `promise`, or fails naming `what` after `waitMs`. */
    const withDeadline = async <T>(promise: Promise<T>, what: string): Promise<T> => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${waitMs} ms waiting for ${what}`)),
          waitMs,
        )
      })
      try {
        return await Promise.race([promise, expired])
      } finally {
        clearTimeout(timer)
      }
    }

    /** Lets the adapter run for `quietMs` so that anything it should not deliver would show up. */
    const quietPeriod = async (): Promise<void> => {
      const deadline = Date.now() + quietMs
      while (Date.now() < deadline) await env().time.advance(real ? 50 : 10)
    }

    /** Records whose values identify them: `<namespace>:<label>:<index>`. */
    const makeRecords = (label: string, count: number, keys: number): QueueRecord[] =>
      Array.from({ length: count }, (_, i) => ({
        key: `${env().namespace}k${i % keys}`,
        value: `${env().namespace}:${label}:${i}`,
      }))

    const seq = (message: QueueMessage): number =>
      Number(message.value.slice(message.value.lastIndexOf(':') + 1))

    const values = (messages: readonly { value: string }[]): string[] => messages.map((m) => m.value)

    describe('produce and consume', () => {
      it('delivers every record exactly once with its key, value and headers intact and its publish time', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const received: QueueMessage[] = []
        await consume(queue, topic, groupName(), async (batch) => {
          received.push(...batch)
        })
        const records: QueueRecord[] = Array.from({ length: 60 }, (_, i) => {
          const record: QueueRecord = {
            key: i % 5 === 0 ? null : `${env().namespace}key-${i % 7}`,
            value: JSON.stringify({ i, text: 'héllo wörld — 日本語 🚀 "quoted" \\ back\nline' }),
          }
          if (i % 2 === 0) record.headers = { 'x-index': String(i), 'x-text': 'ünïcödé ✓' }
          return record
        })
        const producing = env().time.clock.now()
        await queue.produce(topic, records.slice(0, 25))
        await queue.produce(topic, records.slice(25))
        const produced = env().time.clock.now()
        await until(
          () => received.length >= records.length,
          () => `${records.length} records, got ${received.length}`,
        )
        await quietPeriod()

        expect(received).toHaveLength(records.length)
        const byValue = new Map(received.map((message) => [message.value, message]))
        expect(byValue.size).toBe(records.length)
        for (const record of records) {
          const message = byValue.get(record.value)
          expect(message, `record ${record.value} was not delivered`).toBeDefined()
          expect(message?.key).toBe(record.key)
          expect(message?.headers ?? {}).toEqual(record.headers ?? {})
          expect(message?.deliveryAttempt).toBe(1)
          // A second of slack: a broker or emulator stamps the time with its own clock.
          expect(message?.publishedAt).toBeGreaterThanOrEqual(producing - 1_000)
          expect(message?.publishedAt).toBeLessThanOrEqual(produced + 1_000)
        }
        const ids = received.map((message) => message.id)
        expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true)
        expect(new Set(ids).size).toBe(ids.length)
      })

      it('produce resolves only once the records are stored: a consumer started afterwards receives them', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const records = makeRecords('early', 40, 8)
        await queue.produce(topic, records)
        const received: QueueMessage[] = []
        await consume(queue, topic, groupName(), async (batch) => {
          received.push(...batch)
        })
        await until(
          () => received.length >= records.length,
          () => `${records.length} records produced before the consumer started, got ${received.length}`,
        )
        expect(new Set(values(received))).toEqual(new Set(values(records)))
      })

      it('resolves a produce of no records without delivering anything', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const received: QueueMessage[] = []
        await consume(queue, topic, groupName(), async (batch) => {
          received.push(...batch)
        })
        await queue.produce(topic, [])
        await quietPeriod()
        expect(received).toEqual([])
      })

      it('hands the handler at most maxBatchSize messages per call', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const records = makeRecords('batch', 100, 10)
        await queue.produce(topic, records)
        const sizes: number[] = []
        let total = 0
        await consume(
          queue,
          topic,
          groupName(),
          async (batch) => {
            sizes.push(batch.length)
            total += batch.length
          },
          7,
        )
        await until(
          () => total >= records.length,
          () => `${records.length} records, got ${total}`,
        )
        expect(Math.max(...sizes)).toBeLessThanOrEqual(7)
      })

      it('defaults maxBatchSize to 500', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const records = makeRecords('default-batch', 1_200, 30)
        await queue.produce(topic, records)
        const sizes: number[] = []
        let total = 0
        await consume(queue, topic, groupName(), async (batch) => {
          sizes.push(batch.length)
          total += batch.length
        })
        await until(
          () => total >= records.length,
          () => `${records.length} records, got ${total}`,
        )
        expect(Math.max(...sizes)).toBeLessThanOrEqual(500)
      })

      it('gives every consumer group all the records', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const first: QueueMessage[] = []
        const second: QueueMessage[] = []
        await consume(queue, topic, groupName('first'), async (batch) => {
          first.push(...batch)
        })
        await consume(queue, topic, groupName('second'), async (batch) => {
          second.push(...batch)
        })
        const records = makeRecords('fanout', 50, 10)
        await queue.produce(topic, records)
        await until(
          () => first.length >= records.length && second.length >= records.length,
          () => `${records.length} records in each group, got ${first.length} and ${second.length}`,
        )
        const expected = new Set(values(records))
        expect(new Set(values(first))).toEqual(expected)
        expect(new Set(values(second))).toEqual(expected)
      })

      it('stop() waits for the handler call in flight and its acknowledgement', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const group = groupName()
        let release: () => void = () => {}
        const held = new Promise<void>((resolve) => {
          release = resolve
        })
        const firstCall: QueueMessage[] = []
        let calls = 0
        let settled = false
        const subscription = await consume(queue, topic, group, async (batch) => {
          calls += 1
          if (calls === 1) {
            firstCall.push(...batch)
            await held
            settled = true
          }
        })
        await queue.produce(topic, makeRecords('inflight', 10, 10))
        await until(
          () => calls >= 1,
          () => 'the first handler call',
        )

        let stopped = false
        const stopping = subscription.stop().then(() => {
          stopped = true
        })
        await quietPeriod()
        expect(stopped, 'stop() resolved while a handler call was still running').toBe(false)
        release()
        await stopping
        expect(settled).toBe(true)

        const callsAtStop = calls
        await queue.produce(topic, makeRecords('after-stop', 5, 5))
        await quietPeriod()
        expect(calls, 'the handler was called after stop() resolved').toBe(callsAtStop)

        // The acknowledged first batch must not reach the next consumer of the group.
        const next: QueueMessage[] = []
        await consume(queue, topic, group, async (batch) => {
          next.push(...batch)
        })
        await until(
          () => next.some((m) => m.value.includes(':after-stop:')),
          () => 'records produced after stop() at the next consumer',
        )
        await quietPeriod()
        const acknowledged = new Set(values(firstCall))
        expect(values(next).filter((value) => acknowledged.has(value))).toEqual([])
      })

      // Group positions are what make a consumer restart safe; a transport without redelivery keeps
      // them too (it must not skip or repeat records), so this runs for every transport.
      it('a new consumer of a group resumes after what the group acknowledged', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const group = groupName()
        const before = makeRecords('before', 30, 6)
        await queue.produce(topic, before)
        const first: QueueMessage[] = []
        const subscription = await consume(queue, topic, group, async (batch) => {
          first.push(...batch)
        })
        await until(
          () => first.length >= before.length,
          () => `${before.length} records at the first consumer, got ${first.length}`,
        )
        await subscription.stop()

        const after = makeRecords('after', 20, 6)
        await queue.produce(topic, after)
        const second: QueueMessage[] = []
        await consume(queue, topic, group, async (batch) => {
          second.push(...batch)
        })
        await until(
          () => second.length >= after.length,
          () => `${after.length} new records at the second consumer, got ${second.length}`,
        )
        await quietPeriod()
        expect(values(second).sort()).toEqual(values(after).sort())
      })
    })

    // Without orderedByKey a transport may reorder a key's records (e.g. Pub/Sub without ordering
    // keys); such transports are covered by the delivery cases above.
    describe.runIf(capabilities.orderedByKey)('ordering by key (orderedByKey)', () => {
      it("hands out each key's records in produce order across many keys and batches", async () => {
        const queue = await harness.create()
        const topic = topicName()
        const keys = 25
        const records = makeRecords('ordered', 750, keys)
        for (let i = 0; i < records.length; i += 60) await queue.produce(topic, records.slice(i, i + 60))
        const received: QueueMessage[] = []
        await consume(
          queue,
          topic,
          groupName(),
          async (batch) => {
            received.push(...batch)
          },
          13,
        )
        await until(
          () => received.length >= records.length,
          () => `${records.length} records, got ${received.length}`,
        )
        expectKeyOrder(received, keys, records.length / keys)
      })

      it('never runs two handler calls holding records of the same key at once, as consumers come and go', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const keys = 12
        const slices = 6
        const perSlice = 96
        const records = makeRecords('exclusive', slices * perSlice, keys)
        const inFlight = new Map<string, number>()
        const overlaps: string[] = []
        const received: QueueMessage[] = []
        let onBatchStart: (() => void) | undefined
        const handler: BatchHandler = async (batch) => {
          const batchKeys = new Set(batch.map((m) => String(m.key)))
          for (const key of batchKeys) {
            if (inFlight.get(key)) overlaps.push(key)
            inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
          }
          onBatchStart?.()
          onBatchStart = undefined
          await new Promise((resolve) => setTimeout(resolve, 5))
          for (const key of batchKeys) inFlight.set(key, (inFlight.get(key) ?? 1) - 1)
          received.push(...batch)
        }
        const distinct = () => new Set(values(received)).size
        const group = groupName()
        const running = [await consume(queue, topic, group, handler, 24)]
        for (let slice = 0; slice < slices; slice++) {
          const batchStarted = new Promise<void>((resolve) => {
            onBatchStart = resolve
          })
          await queue.produce(topic, records.slice(slice * perSlice, (slice + 1) * perSlice))
          if (!capabilities.sharedConsumption) continue
          // Join (and leave) right as a batch starts, so partitions move between consumers while
          // their batches run: that is where a same-key overlap would come from.
          await withDeadline(batchStarted, `a handler call after producing slice ${slice}`)
          running.push(await consume(queue, topic, group, handler, 24))
          if (running.length > 2) await running.shift()?.stop()
        }
        await until(
          () => distinct() >= records.length,
          () => `${records.length} records, got ${distinct()}`,
        )
        expect(overlaps, 'keys held by two handler calls at once').toEqual([])
        // A consumer that leaves can drop records in flight to it (a closing stream); they come
        // back after their lease, and the key's later records with them. So a later record may be
        // handled before an earlier one's first delivery, but never after its last.
        expectKeyOrder(lastDeliveries(received), keys, records.length / keys)
      })
    })

    // Without redelivery a failed batch is gone (at-most-once); such a transport can only be checked
    // for the delivery cases above.
    describe.runIf(capabilities.redelivers)('redelivery (redelivers)', () => {
      it('delivers the messages of a rejected batch again, with deliveryAttempt above 1, losing nothing', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const keys = 6
        const records = makeRecords('retry', 60, keys)
        await queue.produce(topic, records)
        let rejected: QueueMessage[] | undefined
        const acknowledged: QueueMessage[] = []
        await consume(
          queue,
          topic,
          groupName(),
          async (batch) => {
            if (!rejected) {
              rejected = [...batch]
              throw new Error('conformance: rejecting the first batch on purpose')
            }
            acknowledged.push(...batch)
          },
          10,
        )
        const expected = new Set(values(records))
        await until(
          () => new Set(values(acknowledged)).size >= expected.size,
          () => `all ${expected.size} records acknowledged, got ${new Set(values(acknowledged)).size}`,
        )
        expect(new Set(values(acknowledged))).toEqual(expected)
        expect(rejected?.length).toBeGreaterThan(0)
        for (const failed of rejected ?? []) {
          const again = acknowledged.find((m) => m.value === failed.value)
          expect(again?.id, `redelivery of ${failed.value} has a different id`).toBe(failed.id)
          expect(again?.deliveryAttempt).toBeGreaterThan(1)
          expect(again?.publishedAt, 'a redelivery keeps its publish time').toBe(failed.publishedAt)
        }
        if (capabilities.orderedByKey) expectKeyOrder(dedupe(acknowledged), keys, records.length / keys)
      })

      it('gives the next consumer of the group what a stopped consumer never acknowledged', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const group = groupName()
        const records = makeRecords('unacked', 30, 5)
        await queue.produce(topic, records)
        let failures = 0
        const subscription = await consume(queue, topic, group, async () => {
          failures += 1
          throw new Error('conformance: never acknowledging')
        })
        await until(
          () => failures >= 1,
          () => 'the first (rejected) handler call',
        )
        await subscription.stop()

        const received: QueueMessage[] = []
        await consume(queue, topic, group, async (batch) => {
          received.push(...batch)
        })
        const expected = new Set(values(records))
        await until(
          () => new Set(values(received)).size >= expected.size,
          () => `${expected.size} unacknowledged records at the next consumer, got ${received.length}`,
        )
        expect(new Set(values(received))).toEqual(expected)
      })
    })

    // Sharing one group between consumers is Kafka partitions / Pub/Sub subscriptions; a transport
    // without it runs one consumer per group and is covered by the cases above.
    describe.runIf(capabilities.sharedConsumption)('shared consumption (sharedConsumption)', () => {
      it('splits the records between two consumers of one group, without duplicates', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const group = groupName()
        const a: QueueMessage[] = []
        const b: QueueMessage[] = []
        const handler =
          (into: QueueMessage[]): BatchHandler =>
          async (batch) => {
            into.push(...batch)
            await new Promise((resolve) => setTimeout(resolve, 2))
          }
        await consume(queue, topic, group, handler(a), 5)
        await consume(queue, topic, group, handler(b), 5)
        await warmUp(queue, topic, a, b)

        const warm = a.length + b.length
        const records = makeRecords('split', 200, 40)
        await queue.produce(topic, records)
        const measured = () => [...a, ...b].filter((m) => m.value.includes(':split:'))
        await until(
          () => measured().length >= records.length,
          () => `${records.length} records across both consumers, got ${measured().length}`,
        )
        await quietPeriod()
        expect(a.length + b.length - warm, 'records delivered twice while both consumers were healthy').toBe(
          records.length,
        )
        expect(new Set(values(measured()))).toEqual(new Set(values(records)))
      })

      it('hands the share of a stopped consumer to the one still running', async () => {
        const queue = await harness.create()
        const topic = topicName()
        const group = groupName()
        const a: QueueMessage[] = []
        const b: QueueMessage[] = []
        const first = await consume(queue, topic, group, async (batch) => {
          a.push(...batch)
        })
        await consume(queue, topic, group, async (batch) => {
          b.push(...batch)
        })
        await warmUp(queue, topic, a, b)
        await first.stop()

        const records = makeRecords('takeover', 100, 40)
        await queue.produce(topic, records)
        const taken = () => b.filter((m) => m.value.includes(':takeover:'))
        await until(
          () => new Set(values(taken())).size >= records.length,
          () => `${records.length} records at the remaining consumer, got ${new Set(values(taken())).size}`,
        )
        expect(new Set(values(taken()))).toEqual(new Set(values(records)))
      })
    })

    // Only a durable transport keeps records and group positions across a restart; the memory queue
    // is not durable, so this is covered by the Kafka and Pub/Sub integration runs.
    describe.runIf(capabilities.durable)('durability (durable)', () => {
      it('a restarted transport delivers what was produced before, and not what the group acknowledged', async () => {
        const before = await harness.create()
        const topic = topicName()
        const group = groupName()
        const acknowledgedRecords = makeRecords('acked', 20, 4)
        await before.produce(topic, acknowledgedRecords)
        const first: QueueMessage[] = []
        const subscription = await consume(before, topic, group, async (batch) => {
          first.push(...batch)
        })
        await until(
          () => first.length >= acknowledgedRecords.length,
          () => `${acknowledgedRecords.length} records before the restart, got ${first.length}`,
        )
        await subscription.stop()
        const pending = makeRecords('pending', 10, 4)
        await before.produce(topic, pending)

        const after = await harness.create()
        const second: QueueMessage[] = []
        await consume(after, topic, group, async (batch) => {
          second.push(...batch)
        })
        await until(
          () => second.length >= pending.length,
          () => `${pending.length} records after the restart, got ${second.length}`,
        )
        await quietPeriod()
        expect(values(second).sort()).toEqual(values(pending).sort())
      })
    })

    /** Produces rounds of records until both consumers of a group have received some. */
    async function warmUp(queue: QueueTransport, topic: string, a: QueueMessage[], b: QueueMessage[]) {
      let round = 0
      const deadline = Date.now() + waitMs
      while (a.length === 0 || b.length === 0) {
        if (Date.now() > deadline) {
          throw new Error(
            `timed out after ${waitMs} ms: two consumers of one group did not both receive records ` +
              `(got ${a.length} and ${b.length}); sharedConsumption says they split the work`,
          )
        }
        await queue.produce(topic, makeRecords(`warm${round++}`, 40, 40))
        const settle = Date.now() + (real ? 500 : 20)
        while (Date.now() < settle && (a.length === 0 || b.length === 0)) await env().time.advance(10)
      }
      await until(
        () => new Set(values([...a, ...b])).size >= round * 40,
        () => `the ${round * 40} warm-up records (got ${new Set(values([...a, ...b])).size})`,
      )
    }

    /** Each message's last delivery, in delivery order. */
    function lastDeliveries(messages: readonly QueueMessage[]): QueueMessage[] {
      return dedupe([...messages].reverse()).reverse()
    }

    function dedupe(messages: readonly QueueMessage[]): QueueMessage[] {
      const seen = new Set<string>()
      return messages.filter((m) => !seen.has(m.value) && seen.add(m.value))
    }

    /** Each of `keys` keys received `perKey` records, in produce order. */
    function expectKeyOrder(messages: readonly QueueMessage[], keys: number, perKey: number) {
      const byKey = new Map<string, number[]>()
      for (const message of messages) {
        const list = byKey.get(String(message.key)) ?? []
        list.push(seq(message))
        byKey.set(String(message.key), list)
      }
      expect(byKey.size).toBe(keys)
      for (const [key, order] of byKey) {
        expect(order, `records of key ${key} out of produce order`).toEqual([...order].sort((x, y) => x - y))
        expect(order, `records of key ${key} missing or repeated`).toHaveLength(perKey)
      }
    }
  })
}
