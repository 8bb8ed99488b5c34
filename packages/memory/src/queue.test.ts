import { describeQueueConformance } from '@sluice/conformance'
import { createManualClock, QueueError, type QueueMessage } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryQueue, memoryQueueCapabilities } from './queue.js'

describeQueueConformance(
  'memory',
  ({ time }) => createMemoryQueue({ clock: time.clock }),
  memoryQueueCapabilities,
  {
    close: (queue) => queue.close(),
  },
)

const tick = () => new Promise((resolve) => setImmediate(resolve))

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !done(); i++) await tick()
  expect(done()).toBe(true)
}

describe('createMemoryQueue', () => {
  it('counts every redelivery in deliveryAttempt and waits redeliveryDelayMs on the clock between them', async () => {
    const clock = createManualClock(0)
    const queue = createMemoryQueue({ clock, redeliveryDelayMs: 1_000 })
    const attempts: number[] = []
    await queue.consume('t', { group: 'g' }, async (batch) => {
      attempts.push(batch[0]?.deliveryAttempt ?? 0)
      if (attempts.length < 3) throw new Error('again')
    })
    await queue.produce('t', [{ key: 'k', value: 'v' }])
    await waitFor(() => attempts.length === 1)
    clock.advance(999)
    await tick()
    expect(attempts).toEqual([1])
    clock.advance(1)
    await waitFor(() => attempts.length === 2)
    clock.advance(1_000)
    await waitFor(() => attempts.length === 3)
    expect(attempts).toEqual([1, 2, 3])
    await queue.close()
  })

  it('refuses, retryably and whole, a produce that would pass maxWaitingRecords, and takes records again once they are processed', async () => {
    const queue = createMemoryQueue({ maxWaitingRecords: 10 })
    const records = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `${tag}${i}` }))
    // Before any group consumes, every record waits; one produce into an empty backlog is taken whole.
    await queue.produce('t', records(12, 'big'))
    const full = await queue.produce('t', records(1, 'more')).catch((error: unknown) => error)
    expect(full).toBeInstanceOf(QueueError)
    expect(full).toMatchObject({ retryable: true, code: 'queue.full' })
    expect((full as Error).message).toContain('holds 12 records not yet processed and takes at most 10')
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const seen: string[] = []
    await queue.consume('t', { group: 'g' }, async (batch) => {
      await gate
      seen.push(...batch.map((message) => message.value))
    })
    // Handed to the group but not acknowledged: still waiting.
    await expect(queue.produce('t', records(1, 'more'))).rejects.toMatchObject({ code: 'queue.full' })
    release()
    await waitFor(() => seen.length === 12)
    await queue.produce('t', records(10, 'next'))
    await waitFor(() => seen.length === 22)
    expect(seen).not.toContain('more0')
    await queue.close()
  })

  it('keeps other partitions flowing while a rejected batch waits for redelivery', async () => {
    const clock = createManualClock(0)
    const queue = createMemoryQueue({ clock, partitions: 4, redeliveryDelayMs: 60_000 })
    const acknowledged: string[] = []
    await queue.consume('t', { group: 'g', maxBatchSize: 1 }, async ([message]) => {
      if (message?.value === 'poison') throw new Error('fails until later')
      acknowledged.push(message?.value ?? '')
    })
    await queue.produce('t', [{ key: 'a', value: 'poison' }])
    await tick()
    const others = Array.from({ length: 20 }, (_, i) => ({ key: `other-${i}`, value: `v${i}` }))
    await queue.produce('t', others)
    // Keys hashing to the poisoned partition wait; every other key gets through.
    await waitFor(() => acknowledged.length >= 10)
    await tick()
    expect(acknowledged.length).toBeLessThan(others.length)
    await queue.close()
  })

  it('starts a new group after what every existing group acknowledged', async () => {
    const queue = createMemoryQueue()
    const first: string[] = []
    await queue.consume('t', { group: 'a' }, async (batch) => {
      first.push(...batch.map((m) => m.value))
    })
    await queue.produce('t', [
      { key: 'k', value: '1' },
      { key: 'k', value: '2' },
    ])
    await waitFor(() => first.length === 2)
    const late: string[] = []
    await queue.consume('t', { group: 'b' }, async (batch) => {
      late.push(...batch.map((m) => m.value))
    })
    await queue.produce('t', [{ key: 'k', value: '3' }])
    await waitFor(() => late.length === 1)
    expect(late).toEqual(['3'])
    await queue.close()
  })

  it('moves a 200 000-record stream through, in key order', async () => {
    const queue = createMemoryQueue({ partitions: 4, maxWaitingRecords: 200_000 })
    const total = 200_000
    let received = 0
    let lastSeqOfKey0 = -1
    let ordered = true
    await queue.consume('t', { group: 'g' }, async (batch) => {
      for (const message of batch) {
        if (message.key === 'k0') {
          const seq = Number(message.value)
          if (seq < lastSeqOfKey0) ordered = false
          lastSeqOfKey0 = seq
        }
      }
      received += batch.length
    })
    const chunk = Array.from({ length: 1_000 }, (_, i) => ({ key: `k${i % 100}`, value: '' }))
    for (let sent = 0; sent < total; sent += chunk.length) {
      await queue.produce(
        't',
        chunk.map((record, i) => ({ key: record.key, value: String(sent + i) })),
      )
    }
    await waitFor(() => received === total)
    expect(ordered).toBe(true)
    await queue.close()
  })

  it('gives a consumer nothing when a group has more consumers than partitions', async () => {
    const queue = createMemoryQueue({ partitions: 1 })
    const a: QueueMessage[] = []
    const b: QueueMessage[] = []
    await queue.consume('t', { group: 'g' }, async (batch) => {
      a.push(...batch)
    })
    await queue.consume('t', { group: 'g' }, async (batch) => {
      b.push(...batch)
    })
    await queue.produce('t', [
      { key: 'x', value: '1' },
      { key: 'y', value: '2' },
    ])
    await waitFor(() => a.length === 2)
    expect(b).toEqual([])
    await queue.close()
  })

  it('rejects invalid records, options and use after close with a QueueError', async () => {
    const queue = createMemoryQueue()
    await expect(queue.produce('t', [{ key: 'k', value: 1 as unknown as string }])).rejects.toMatchObject({
      code: 'queue.invalid',
      retryable: false,
    })
    await expect(queue.produce('', [])).rejects.toBeInstanceOf(QueueError)
    await expect(queue.consume('t', { group: '' }, async () => {})).rejects.toThrow(/consumer group/)
    await expect(queue.consume('t', { group: 'g', maxBatchSize: 0 }, async () => {})).rejects.toThrow(
      /maxBatchSize/,
    )
    await queue.close()
    await expect(queue.produce('t', [])).rejects.toMatchObject({ code: 'queue.closed' })
    expect(() => createMemoryQueue({ partitions: 0 })).toThrow(QueueError)
  })

  it('close() waits for handler calls in flight', async () => {
    const queue = createMemoryQueue()
    let release: () => void = () => {}
    let finished = false
    await queue.consume('t', { group: 'g' }, async () => {
      await new Promise<void>((resolve) => {
        release = resolve
      })
      finished = true
    })
    await queue.produce('t', [{ key: null, value: 'v' }])
    await tick()
    const closing = queue.close()
    release()
    await closing
    expect(finished).toBe(true)
  })
})
