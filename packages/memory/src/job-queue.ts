import {
  assertClaimOptions,
  assertJobAttempt,
  assertJobTime,
  assertNewJob,
  type Job,
  type JobQueue,
  type JobQueueCapabilities,
} from '@sluice/core'

/** What the memory job queue guarantees: one process, nothing survives a restart. */
export const memoryJobQueueCapabilities: JobQueueCapabilities = Object.freeze({
  durable: false,
  sharedAcrossInstances: false,
})

interface StoredJob {
  readonly id: string
  readonly seq: number
  readonly kind: string
  readonly configId: number | null
  readonly name: string
  readonly payload: string
  runAt: number
  attempt: number
  owner: string | undefined
  leaseUntil: number
  /** Bumped on every state change, so heap entries pushed before it are recognised as stale. */
  version: number
}

interface HeapEntry {
  readonly job: StoredJob
  readonly version: number
  /** Ready heap: runAt. Lease heap: leaseUntil. */
  readonly at: number
}

/**
 * Creates a job queue in process memory. Due-ness and lease expiry are measured against the `now`
 * each claim passes (a job is claimable once `runAt <= now` and any lease ended at or before `now`),
 * so the queue needs no clock of its own. A lease, once expired, is lost only when another claim
 * takes the job: until then its owner can still complete or reschedule it, which saves a second run.
 * A job leased by anyone, the claimer included, is skipped until its lease expires.
 *
 * Claims cost O(log n) per job handed out; completed and rescheduled jobs leave stale heap entries
 * that are skipped when they surface.
 *
 * @example
 * const jobs = createMemoryJobQueue()
 * await jobs.enqueue([{ kind: 'plugin-job', configId: 1, name: 'sync', payload: '{}', runAt: Date.now() }])
 * const [job] = await jobs.claim({ now: Date.now(), limit: 10, owner: 'worker-1', leaseMs: 60_000 })
 */
export function createMemoryJobQueue(): JobQueue {
  const jobs = new Map<string, StoredJob>()
  /** Unleased jobs by (runAt, enqueue order). */
  const ready = new MinHeap()
  /** Leased jobs by lease end. */
  const leased = new MinHeap()
  let seq = 0

  const push = (heap: MinHeap, job: StoredJob, at: number) => heap.push({ job, version: job.version, at })
  const isCurrent = (entry: HeapEntry) =>
    jobs.get(entry.job.id) === entry.job && entry.version === entry.job.version

  /** The lease is the owner's until another claim takes the job. */
  const holds = (id: string, owner: string): StoredJob | undefined => {
    const job = jobs.get(id)
    return job !== undefined && job.owner !== undefined && job.owner === owner ? job : undefined
  }

  return {
    capabilities: memoryJobQueueCapabilities,

    async enqueue(newJobs) {
      newJobs.forEach(assertNewJob)
      return newJobs.map((newJob) => {
        seq += 1
        const job: StoredJob = {
          id: String(seq),
          seq,
          kind: newJob.kind,
          configId: newJob.configId,
          name: newJob.name,
          payload: newJob.payload,
          runAt: newJob.runAt,
          attempt: newJob.attempt ?? 0,
          owner: undefined,
          leaseUntil: 0,
          version: 0,
        }
        jobs.set(job.id, job)
        push(ready, job, job.runAt)
        return job.id
      })
    },

    async claim(options) {
      assertClaimOptions(options)
      const { now, limit, owner, leaseMs } = options
      // Expired leases go back to the ready heap, where they sort by their original runAt.
      for (let entry = leased.peek(); entry && entry.at <= now; entry = leased.peek()) {
        leased.pop()
        if (!isCurrent(entry)) continue
        entry.job.version += 1
        push(ready, entry.job, entry.job.runAt)
      }
      const claimed: Job[] = []
      for (
        let entry = ready.peek();
        entry && entry.at <= now && claimed.length < limit;
        entry = ready.peek()
      ) {
        ready.pop()
        if (!isCurrent(entry)) continue
        const job = entry.job
        job.owner = owner
        job.leaseUntil = now + leaseMs
        job.version += 1
        push(leased, job, job.leaseUntil)
        claimed.push(toJob(job))
      }
      return claimed
    },

    async complete(id, owner) {
      if (!holds(id, owner)) return false
      jobs.delete(id)
      return true
    },

    async reschedule(id, owner, runAt, attempt) {
      assertJobTime('runAt', runAt)
      assertJobAttempt(attempt)
      const job = holds(id, owner)
      if (!job) return false
      job.runAt = runAt
      job.attempt = attempt
      job.owner = undefined
      job.leaseUntil = 0
      job.version += 1
      push(ready, job, runAt)
      return true
    },

    async count() {
      return jobs.size
    },
  }
}

function toJob(job: StoredJob): Job {
  return {
    id: job.id,
    kind: job.kind,
    configId: job.configId,
    name: job.name,
    payload: job.payload,
    runAt: job.runAt,
    attempt: job.attempt,
  }
}

/** A binary min-heap of entries by `at`, ties in enqueue order. */
class MinHeap {
  private readonly items: HeapEntry[] = []

  peek(): HeapEntry | undefined {
    return this.items[0]
  }

  push(entry: HeapEntry): void {
    const items = this.items
    items.push(entry)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(entry, items[parent] as HeapEntry)) break
      items[i] = items[parent] as HeapEntry
      i = parent
    }
    items[i] = entry
  }

  pop(): HeapEntry | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length === 0 || last === undefined) return top
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= items.length) break
      const right = left + 1
      const child =
        right < items.length && before(items[right] as HeapEntry, items[left] as HeapEntry) ? right : left
      if (!before(items[child] as HeapEntry, last)) break
      items[i] = items[child] as HeapEntry
      i = child
    }
    items[i] = last
    return top
  }
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.job.seq < b.job.seq)
}
