import { describeJobQueueConformance } from '@sluice/conformance'
import { JobQueueError, type NewJob } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryJobQueue, memoryJobQueueCapabilities } from './job-queue.js'

describeJobQueueConformance('memory', () => createMemoryJobQueue(), memoryJobQueueCapabilities)

const job = (overrides: Partial<NewJob> = {}): NewJob => ({
  kind: 'plugin-job',
  configId: 1,
  name: 'sync',
  payload: '{}',
  runAt: 0,
  ...overrides,
})

describe('createMemoryJobQueue', () => {
  it('keeps an expired lease with its holder until another claim takes the job', async () => {
    const queue = createMemoryJobQueue()
    const [id] = (await queue.enqueue([job()])) as [string]
    await queue.claim({ now: 0, limit: 1, owner: 'a', leaseMs: 10 })
    expect(await queue.claim({ now: 20, limit: 0, owner: 'b', leaseMs: 10 })).toEqual([])
    expect(await queue.complete(id, 'a')).toBe(true)
    expect(await queue.claim({ now: 100, limit: 1, owner: 'b', leaseMs: 10 })).toEqual([])
  })

  it('skips a job its own claimer holds until the lease expires', async () => {
    const queue = createMemoryJobQueue()
    await queue.enqueue([job()])
    expect(await queue.claim({ now: 0, limit: 5, owner: 'a', leaseMs: 10 })).toHaveLength(1)
    expect(await queue.claim({ now: 9, limit: 5, owner: 'a', leaseMs: 10 })).toEqual([])
    expect(await queue.claim({ now: 10, limit: 5, owner: 'a', leaseMs: 10 })).toHaveLength(1)
  })

  it('hands out many jobs in runAt order after reschedules and completions', async () => {
    const queue = createMemoryJobQueue()
    const runAts = Array.from({ length: 1_000 }, (_, i) => (i * 7919) % 1_000)
    const ids = await queue.enqueue(runAts.map((runAt) => job({ runAt })))
    const first = await queue.claim({ now: 10_000, limit: 10, owner: 'a', leaseMs: 1 })
    for (const j of first.slice(0, 5)) await queue.complete(j.id, 'a')
    for (const j of first.slice(5)) await queue.reschedule(j.id, 'a', 5_000, 1)
    const rest = await queue.claim({ now: 10_000, limit: 10_000, owner: 'b', leaseMs: 1 })
    expect(rest).toHaveLength(ids.length - 5)
    const order = rest.map((j) => j.runAt)
    expect(order).toEqual([...order].sort((x, y) => x - y))
  })

  it('rejects invalid jobs and claims with a JobQueueError', async () => {
    const queue = createMemoryJobQueue()
    await expect(queue.enqueue([job({ runAt: Number.NaN })])).rejects.toBeInstanceOf(JobQueueError)
    await expect(queue.enqueue([job({ payload: {} as unknown as string })])).rejects.toMatchObject({
      code: 'job-queue.invalid',
      retryable: false,
    })
    await expect(queue.claim({ now: 0, limit: 1, owner: '', leaseMs: 10 })).rejects.toThrow(/owner/)
    await expect(queue.claim({ now: 0, limit: 1, owner: 'a', leaseMs: 0 })).rejects.toThrow(/leaseMs/)
    expect(await queue.count()).toBe(0)
  })
})
