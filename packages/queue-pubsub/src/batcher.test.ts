import { createManualClock, type ManualClock, type QueueMessage } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { Batcher, type BatcherOptions, type Delivery, GroupState } from './batcher.js'

/** One handler call: its messages and the means to settle it. */
interface Call {
  messages: readonly QueueMessage[]
  resolve(): void
  reject(): void
}

const flush = () => new Promise((resolve) => setImmediate(resolve))

function harness(
  overrides: Partial<BatcherOptions> = {},
  shared?: { clock: ManualClock; group: GroupState },
) {
  const clock = shared?.clock ?? createManualClock(0)
  const group = shared?.group ?? new GroupState({ clock, rewindTimeoutMs: 1_000 })
  const calls: Call[] = []
  const settled: string[] = []
  const batcher = new Batcher({
    group,
    clock,
    maxBatchSize: 100,
    maxConcurrentBatches: 1,
    lingerMs: 0,
    redeliveryDelayMs: 0,
    handler: (messages) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ messages, resolve, reject: () => reject(new Error('rejected on purpose')) })
      }),
    ...overrides,
  })
  /** Delivers `id` (`<key><n>`, or `-<n>` for no key), as the service would. */
  const deliver = (id: string, serviceAttempt = 0) => {
    const key = id.startsWith('-') ? null : (id.match(/^[a-z]+/)?.[0] ?? null)
    const delivery: Delivery = {
      id,
      orderingKey: key,
      record: { key, value: id },
      serviceAttempt,
      publishedAt: clock.now(),
      ack: () => settled.push(`ack ${id}`),
      nack: () => settled.push(`nack ${id}`),
    }
    batcher.receive(delivery)
  }
  const ids = (call: Call | undefined) => call?.messages.map((m) => m.id)
  return { clock, group, batcher, calls, settled, deliver, ids }
}

describe('Batcher', () => {
  it('hands out at most maxBatchSize messages per call, waiting lingerMs for a batch to fill', async () => {
    const { clock, calls, deliver, ids } = harness({ maxBatchSize: 3, lingerMs: 10, maxConcurrentBatches: 2 })
    deliver('a1')
    deliver('b1')
    await flush()
    clock.advance(9)
    await flush()
    expect(calls).toHaveLength(0)
    deliver('c1')
    await flush()
    expect(ids(calls[0])).toEqual(['a1', 'b1', 'c1'])
    for (const id of ['d1', 'e1', 'f1', 'g1']) deliver(id)
    await flush()
    expect(ids(calls[1])).toEqual(['d1', 'e1', 'f1'])
    expect(calls).toHaveLength(2)
    calls[0]?.resolve()
    await flush()
    expect(ids(calls[2])).toEqual(['g1'])
  })

  it("keeps each key's messages in arrival order and never gives one key to two calls at once", async () => {
    const { calls, deliver, ids } = harness({ maxBatchSize: 2, maxConcurrentBatches: 3 })
    for (const id of ['a1', 'a2', 'a3', 'b1', 'b2', '-1', 'c1']) deliver(id)
    await flush()
    expect(calls.map(ids)).toEqual([
      ['a1', 'a2'],
      ['b1', 'b2'],
      ['-1', 'c1'],
    ])
    calls[1]?.resolve()
    await flush()
    expect(calls).toHaveLength(3)
    calls[0]?.resolve()
    await flush()
    expect(ids(calls[3])).toEqual(['a3'])
  })

  it('takes keys in turns, so a long key does not starve the others', async () => {
    const { calls, deliver, ids } = harness({ maxBatchSize: 2 })
    for (const id of ['a1', 'a2', 'a3', 'a4', 'b1']) deliver(id)
    await flush()
    calls[0]?.resolve()
    await flush()
    expect(calls.map(ids)).toEqual([
      ['a1', 'a2'],
      ['b1', 'a3'],
    ])
  })

  it('acks every delivery of a message when the handler resolves, duplicates included', async () => {
    const { calls, settled, deliver, ids } = harness()
    deliver('a1')
    await flush()
    deliver('a1')
    expect(ids(calls[0])).toEqual(['a1'])
    calls[0]?.resolve()
    await flush()
    expect(settled).toEqual(['ack a1', 'ack a1'])
    expect(calls).toHaveLength(1)
  })

  it('nacks a rejected batch and the waiting messages of its keys after redeliveryDelayMs, while other keys flow', async () => {
    const { clock, calls, settled, deliver, ids } = harness({ maxBatchSize: 2, redeliveryDelayMs: 100 })
    for (const id of ['a1', 'a2', 'a3']) deliver(id)
    await flush()
    calls[0]?.reject()
    await flush()
    deliver('b1')
    deliver('-1')
    await flush()
    expect(ids(calls[1])).toEqual(['b1', '-1'])
    clock.advance(99)
    expect(settled).toEqual([])
    clock.advance(1)
    expect(settled).toEqual(['nack a1', 'nack a2', 'nack a3'])
  })

  it('counts deliveryAttempt up for each handler delivery, and takes the service count when it is higher', async () => {
    const { calls, deliver } = harness()
    deliver('-1')
    await flush()
    calls[0]?.reject()
    await flush()
    deliver('-1')
    await flush()
    expect(calls[1]?.messages[0]?.deliveryAttempt).toBe(2)
    calls[1]?.reject()
    await flush()
    deliver('-1', 7)
    await flush()
    expect(calls[2]?.messages[0]?.deliveryAttempt).toBe(7)
    calls[2]?.resolve()
    await flush()
    deliver('-1')
    await flush()
    expect(calls[3]?.messages[0]?.deliveryAttempt, 'an acknowledged message is forgotten').toBe(1)
  })

  it('holds later messages of a nacked key until the nacked ones are back, then hands them out after them', async () => {
    const { calls, deliver, ids } = harness()
    for (const id of ['a1', 'a2']) deliver(id)
    await flush()
    calls[0]?.reject()
    await flush()
    deliver('a9')
    deliver('b1')
    await flush()
    expect(calls.map(ids)).toEqual([['a1', 'a2'], ['b1']])
    calls[1]?.resolve()
    deliver('a1')
    await flush()
    deliver('a2')
    await flush()
    calls[2]?.resolve()
    await flush()
    expect(calls.slice(2).flatMap(ids)).toEqual(['a1', 'a2', 'a9'])
  })

  it('lets held messages go when the nacked ones are not back within the rewind timeout', async () => {
    const { clock, calls, deliver, ids } = harness()
    deliver('a1')
    await flush()
    calls[0]?.reject()
    await flush()
    deliver('a2')
    await flush()
    clock.advance(999)
    await flush()
    expect(calls).toHaveLength(1)
    clock.advance(1)
    await flush()
    expect(ids(calls[1])).toEqual(['a2'])
  })

  it('stop() waits for the call in flight and settles it, and leaves what waits or arrives later to the subscriber', async () => {
    const { batcher, calls, settled, deliver } = harness({ maxBatchSize: 1 })
    deliver('a1')
    deliver('b1')
    await flush()
    let stopped = false
    const stopping = batcher.stop().then(() => {
      stopped = true
    })
    await flush()
    expect(stopped).toBe(false)
    calls[0]?.resolve()
    await stopping
    expect(settled).toEqual(['ack a1'])
    expect(batcher.pending).toBe(0)
    deliver('c1')
    await flush()
    expect(calls).toHaveLength(1)
    expect(settled).toEqual(['ack a1'])
  })

  it('when stopping, lets a rejected batch go at once, unsettled, instead of nacking it after the delay', async () => {
    const first = harness({ redeliveryDelayMs: 60_000 })
    const second = harness({}, { clock: first.clock, group: first.group })
    first.deliver('a1')
    await flush()
    const stopping = first.batcher.stop()
    first.calls[0]?.reject()
    await stopping
    expect(first.settled).toEqual([])
    second.deliver('a2')
    await flush()
    expect(second.calls).toHaveLength(0)
    second.deliver('a1')
    await flush()
    second.calls[0]?.resolve()
    await flush()
    expect(second.calls.flatMap(second.ids)).toEqual(['a1', 'a2'])
  })

  it('never gives one key to two consumers of a group at once, and holds a key a stopped consumer nacked', async () => {
    const first = harness()
    const second = harness({}, { clock: first.clock, group: first.group })
    first.deliver('a1')
    await flush()
    second.deliver('a2')
    await flush()
    expect(second.calls).toHaveLength(0)
    first.calls[0]?.resolve()
    await flush()
    expect(second.ids(second.calls[0])).toEqual(['a2'])
    second.calls[0]?.resolve()
    await flush()

    // A consumer stops holding a3 (not yet handed out): it is left to the subscriber's close, and
    // a4, later, waits for it.
    first.deliver('b1')
    await flush()
    first.deliver('a3')
    await flush()
    const stopping = first.batcher.stop()
    first.calls[1]?.resolve()
    await stopping
    expect(first.settled).not.toContain('nack a3')
    second.deliver('a4')
    await flush()
    expect(second.calls).toHaveLength(1)
    expect(second.batcher.pending).toBe(1)
    second.deliver('a3')
    await flush()
    second.calls[1]?.resolve()
    await flush()
    expect(second.calls.slice(1).flatMap(second.ids)).toEqual(['a3', 'a4'])
  })

  it('holds later messages of a key a stopped consumer was handed after it stopped, until that one is back', async () => {
    const first = harness()
    const second = harness({}, { clock: first.clock, group: first.group })
    await first.batcher.stop()
    // The stopped consumer's stream hands over a5 before the subscriber closes (and nacks it).
    first.deliver('a5')
    expect(first.settled).toEqual([])
    second.deliver('a6')
    second.deliver('b1')
    await flush()
    expect(second.calls.flatMap(second.ids)).toEqual(['b1'])
    second.deliver('a5')
    await flush()
    second.calls[0]?.resolve()
    await flush()
    expect(second.calls.slice(1).flatMap(second.ids)).toEqual(['a5', 'a6'])
  })

  it('forgets buffered messages without settling them when their subscriber is gone', async () => {
    const { batcher, calls, settled, deliver, ids } = harness()
    deliver('a1')
    await flush()
    deliver('a2')
    deliver('b1')
    batcher.discard()
    expect(batcher.pending).toBe(0)
    calls[0]?.resolve()
    await flush()
    expect(settled).toEqual(['ack a1'])
    // The service delivers them again; a3 (new) still waits for a2.
    deliver('a3')
    deliver('a2')
    deliver('b1')
    await flush()
    calls[1]?.resolve()
    await flush()
    expect(calls.slice(1).flatMap(ids)).toEqual(['a2', 'a3', 'b1'])
  })
})
