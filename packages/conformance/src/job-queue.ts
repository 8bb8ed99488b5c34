import type { Job, JobQueue, JobQueueCapabilities, NewJob } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteOptions } from './support.js'

/**
 * The JobQueue conformance suite. `claim` and `count` cannot be scoped, so the factory must hand
 * each test a queue where no other test's jobs fall due (e.g. a table or queue name derived from
 * `env.namespace`); the suite still never assumes `count()` starts at 0, and only looks at the jobs
 * it enqueued. Two calls of the factory within one test must reach the same stored jobs when the
 * adapter claims `durable` or `sharedAcrossInstances`.
 *
 * @example
 * describeJobQueueConformance('memory', () => createMemoryJobQueue(), memoryJobQueueCapabilities)
 */
export function describeJobQueueConformance(
  name: string,
  factory: AdapterFactory<JobQueue>,
  capabilities: JobQueueCapabilities,
  options: SuiteOptions<JobQueue> = {},
): void {
  const real = options.time === 'real'
  /** Long enough for a few round trips in real time; instant under the manual clock. */
  const leaseMs = real ? 1_000 : 30_000

  describe(`JobQueue conformance: ${name}`, { timeout: real ? 60_000 : 10_000 }, () => {
    const harness = createSuiteHarness(factory, options)

    beforeEach(() => {
      harness.begin()
    })
    afterEach(() => harness.end())

    const now = () => harness.env.time.clock.now()
    const owner = (label: string) => `${harness.env.namespace}${label}`
    const job = (label: string, overrides: Partial<NewJob> = {}): NewJob => ({
      kind: 'plugin-job',
      configId: 7,
      name: `${harness.env.namespace}${label}`,
      payload: JSON.stringify({ label }),
      runAt: now(),
      ...overrides,
    })
    const claim = (queue: JobQueue, claimer: string, limit = 100, at = now()) =>
      queue.claim({ now: at, limit, owner: owner(claimer), leaseMs })
    const names = (jobs: readonly Job[]) => jobs.map((j) => j.name)

    describe('enqueue and claim', () => {
      it('returns one unique id per job, in order, and counts the jobs', async () => {
        const queue = await harness.create()
        const before = await queue.count()
        const ids = await queue.enqueue([job('a'), job('b'), job('c', { runAt: now() + 60_000 })])
        expect(ids).toHaveLength(3)
        expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true)
        expect(new Set(ids).size).toBe(3)
        const more = await queue.enqueue([job('d')])
        expect(ids).not.toContain(more[0])
        expect(await queue.count()).toBe(before + 4)

        const claimed = await claim(queue, 'a')
        const byName = new Map(claimed.map((j) => [j.name, j.id]))
        expect(byName.get(owner('a'))).toBe(ids[0])
        expect(byName.get(owner('b'))).toBe(ids[1])
        expect(byName.get(owner('d'))).toBe(more[0])
      })

      it('resolves an enqueue of no jobs to no ids', async () => {
        const queue = await harness.create()
        const before = await queue.count()
        expect(await queue.enqueue([])).toEqual([])
        expect(await queue.count()).toBe(before)
      })

      it('hands out every field exactly as enqueued, attempt defaulting to 0', async () => {
        const queue = await harness.create()
        const large = JSON.stringify({ rows: 'x'.repeat(200 * 1024), tail: 'ü' })
        const text = JSON.stringify({ text: 'héllo — 日本語 🚀 "quoted" \\ back\nline\ttab', n: 1.5 })
        const jobs: NewJob[] = [
          job('plain', { kind: 'setup-retry', configId: null, payload: text }),
          job('large', { kind: 'export-events', configId: 2_000_000_000, payload: large, attempt: 4 }),
          job('empty', { payload: '' }),
        ]
        const ids = await queue.enqueue(jobs)
        const claimed = await claim(queue, 'a')
        for (const [i, newJob] of jobs.entries()) {
          const got = claimed.find((j) => j.id === ids[i])
          expect(got, `job ${newJob.name}`).toEqual({ attempt: 0, ...newJob, id: ids[i] })
        }
      })

      it('claims only due jobs (runAt <= now), earliest runAt first, at most limit', async () => {
        const queue = await harness.create()
        const t = now()
        await queue.enqueue([
          job('t-100', { runAt: t - 100 }),
          job('t+1', { runAt: t + 1 }),
          job('t-300', { runAt: t - 300 }),
        ])
        await queue.enqueue([
          job('t', { runAt: t }),
          job('t-200', { runAt: t - 200 }),
          job('t+60s', { runAt: t + 60_000 }),
        ])

        const firstTwo = await claim(queue, 'a', 2, t)
        expect(names(firstTwo)).toEqual([owner('t-300'), owner('t-200')])
        const rest = await claim(queue, 'b', 10, t)
        expect(names(rest)).toEqual([owner('t-100'), owner('t')])
        expect(await claim(queue, 'c', 10, t)).toEqual([])
        expect(names(await claim(queue, 'c', 10, t + 1))).toEqual([owner('t+1')])
      })

      it('claims nothing when no job is due', async () => {
        const queue = await harness.create()
        await queue.enqueue([job('later', { runAt: now() + 60_000 })])
        expect(await claim(queue, 'a')).toEqual([])
      })
    })

    describe('leases', () => {
      it('does not hand a leased job to another claimer until the lease expires, then hands it out with the same attempt', async () => {
        const queue = await harness.create()
        const [id] = await queue.enqueue([job('leased', { attempt: 2 })])
        const first = await claim(queue, 'a')
        expect(first.map((j) => j.id)).toEqual([id])

        expect(await claim(queue, 'b')).toEqual([])
        await harness.env.time.advance(Math.floor(leaseMs / 2))
        expect(await claim(queue, 'b')).toEqual([])

        await harness.env.time.advance(Math.ceil(leaseMs / 2) + 1)
        const second = await claim(queue, 'b')
        expect(second).toEqual(first)
        expect(second[0]?.attempt).toBe(2)
      })

      it('completes only for the lease holder: not for another owner, not after the lease was lost', async () => {
        const queue = await harness.create()
        const before = await queue.count()
        const [id] = (await queue.enqueue([job('done')])) as [string]
        await claim(queue, 'a')
        expect(await queue.complete(id, owner('b'))).toBe(false)
        expect(await queue.count()).toBe(before + 1)

        await harness.env.time.advance(leaseMs + 1)
        expect((await claim(queue, 'b')).map((j) => j.id)).toEqual([id])
        expect(
          await queue.complete(id, owner('a')),
          'the expired holder completed a job re-claimed by b',
        ).toBe(false)
        expect(await queue.count()).toBe(before + 1)

        expect(await queue.complete(id, owner('b'))).toBe(true)
        expect(await queue.count()).toBe(before)
        expect(await queue.complete(id, owner('b')), 'a completed job completed again').toBe(false)
        await harness.env.time.advance(leaseMs + 1)
        expect(await claim(queue, 'c')).toEqual([])
      })

      it('reschedules with the new runAt and attempt and releases the lease', async () => {
        const queue = await harness.create()
        const before = await queue.count()
        const [id] = (await queue.enqueue([job('retry', { attempt: 0 })])) as [string]
        const [claimed] = (await claim(queue, 'a')) as [Job]
        const delay = Math.floor(leaseMs / 4)
        const runAt = now() + delay
        expect(await queue.reschedule(id, owner('b'), runAt, 1), 'a non-holder rescheduled').toBe(false)
        expect(await queue.reschedule(id, owner('a'), runAt, 1)).toBe(true)
        expect(await queue.count()).toBe(before + 1)
        expect(await claim(queue, 'b')).toEqual([])

        // Well within the old lease: only a released job can be claimed by someone else now.
        await harness.env.time.advance(delay + (real ? 50 : 0))
        const again = await claim(queue, 'b')
        expect(again).toEqual([{ ...claimed, runAt, attempt: 1 }])
      })

      it('refuses to reschedule after the lease was lost', async () => {
        const queue = await harness.create()
        const [id] = (await queue.enqueue([job('lost')])) as [string]
        await claim(queue, 'a')
        await harness.env.time.advance(leaseMs + 1)
        expect((await claim(queue, 'b')).map((j) => j.id)).toEqual([id])
        expect(await queue.reschedule(id, owner('a'), now() + 1_000, 1)).toBe(false)
        expect(await queue.reschedule(id, owner('b'), now() - 1, 3)).toBe(true)
        const [released] = (await claim(queue, 'c')) as [Job]
        expect(released.id).toBe(id)
        expect(released.attempt).toBe(3)
      })

      it('never hands one job to two claimers running in parallel', async () => {
        // Two instances when the adapter shares them; otherwise two claimers on one instance.
        const first = await harness.create()
        const second = capabilities.sharedAcrossInstances ? await harness.create() : first
        const before = await first.count()
        const ids = new Set(await first.enqueue(Array.from({ length: 50 }, (_, i) => job(`p${i}`))))
        const handedOut: string[] = []
        const refused: string[] = []
        const work = async (queue: JobQueue, claimer: string) => {
          for (;;) {
            const jobs = await queue.claim({ now: now(), limit: 3, owner: owner(claimer), leaseMs })
            const mine = jobs.filter((j) => ids.has(j.id))
            if (mine.length === 0) return
            for (const j of mine) {
              handedOut.push(j.id)
              if (!(await queue.complete(j.id, owner(claimer)))) refused.push(j.id)
            }
          }
        }
        await Promise.all([work(first, 'x'), work(second, 'y'), work(first, 'z'), work(second, 'w')])
        expect(handedOut.length - new Set(handedOut).size, 'jobs handed out twice').toBe(0)
        expect(new Set(handedOut)).toEqual(ids)
        expect(refused).toEqual([])
        expect(await first.count()).toBe(before)
      })
    })

    // Only a durable queue keeps jobs across a restart; covered by the Postgres integration runs.
    describe.runIf(capabilities.durable)('durability (durable)', () => {
      it('a new instance holds the jobs enqueued before, with their leases', async () => {
        const first = await harness.create()
        const [leasedId, waitingId] = (await first.enqueue([
          job('leased', { runAt: now() - 1 }),
          job('waiting'),
        ])) as [string, string]
        await first.claim({ now: now(), limit: 1, owner: owner('a'), leaseMs })
        const restarted = await harness.create()
        const claimed = await restarted.claim({ now: now(), limit: 10, owner: owner('b'), leaseMs })
        const mine = claimed.map((j) => j.id).filter((id) => id === leasedId || id === waitingId)
        expect(mine).toEqual([waitingId])
        expect(await restarted.complete(leasedId, owner('a'))).toBe(true)
      })
    })
  })
}
