import { type Job, JobQueueError, type NewJob } from '@sluice/core'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { postgresUrl } from '../test/support.js'
import { createPostgresStore, type PostgresStore } from './index.js'

// A claim runs on one pooled connection. These tests kill that connection's backend with
// pg_terminate_backend while the claim is in flight, at two points — before it touched any row, and
// after it wrote the lease but before it committed — and show that the job is neither lost nor
// handed out twice, and that the store goes on working on fresh connections.

const T0 = Date.UTC(2026, 0, 1)
const LEASE_MS = 60_000
const run = Math.random().toString(36).slice(2, 8)

const admin = new pg.Client({ connectionString: postgresUrl, application_name: 'sluice-durability-admin' })
beforeAll(() => admin.connect())
afterAll(() => admin.end())

let schema: string
let applicationName: string
let first: PostgresStore
let second: PostgresStore
let testIndex = 0

beforeEach(async () => {
  testIndex += 1
  schema = `sluice_durability_${run}_${testIndex}`
  applicationName = `sluice-durability-${run}-${testIndex}`
  first = await createPostgresStore({ url: postgresUrl, schema, applicationName, poolSize: 2 })
  second = await createPostgresStore({ url: postgresUrl, schema, applicationName: `${applicationName}-b` })
})
afterEach(async () => {
  await admin.query('ROLLBACK').catch(() => {})
  await admin.query('SELECT pg_advisory_unlock_all()')
  await first.close()
  await second.close()
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
})

const job = (name: string): NewJob => ({
  kind: 'plugin-job',
  configId: 1,
  name,
  payload: JSON.stringify({ name }),
  runAt: T0 - 1,
})

/** The backend of `applicationName` that is blocked on a lock while running the claim statement. */
async function blockedClaimBackend(): Promise<number> {
  const deadline = Date.now() + 10_000
  for (;;) {
    // Inside a transaction pg_stat_activity would keep showing its first snapshot.
    await admin.query('SELECT pg_stat_clear_snapshot()')
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE SKIP LOCKED%'`,
      [applicationName],
    )
    if (rows[0]) return rows[0].pid
    if (Date.now() > deadline) throw new Error('the claim never blocked on the held lock')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the operation to fail')
    },
    (error: unknown) => error,
  )
}

/** Two claimers on two stores race for everything due; returns what each got. */
async function race(now = T0): Promise<{ a: Job[]; b: Job[]; all: Job[] }> {
  const [a, b] = await Promise.all([
    first.jobQueue.claim({ now, limit: 10, owner: 'racer-a', leaseMs: LEASE_MS }),
    second.jobQueue.claim({ now, limit: 10, owner: 'racer-b', leaseMs: LEASE_MS }),
  ])
  return { a, b, all: [...a, ...b] }
}

/** The store serves every kind of statement again once the dead connection is gone. */
async function expectStoreWorks(store: PostgresStore): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const [id] = (await store.jobQueue.enqueue([job(`after-${i}`)])) as [string]
    const claimed = await store.jobQueue.claim({ now: T0, limit: 10, owner: 'after', leaseMs: LEASE_MS })
    expect(claimed.map((j) => j.id)).toEqual([id])
    expect(await store.jobQueue.complete(id, 'after')).toBe(true)
  }
  await store.storage.set('s', 'k', '1')
  expect(await store.storage.increment('s', 'k', 1)).toBe(2)
}

describe('a claim whose backend is terminated', { timeout: 30_000 }, () => {
  it('before it locked a row fails retryably, and the job is handed out once afterwards', async () => {
    const [id] = (await first.jobQueue.enqueue([job('waiting')])) as [string]
    const jobs = `"${schema}"."jobs"`

    // Hold the table so the claim statement blocks before reading a single row.
    await admin.query('BEGIN')
    await admin.query(`LOCK TABLE ${jobs} IN ACCESS EXCLUSIVE MODE`)
    const claim = rejection(first.jobQueue.claim({ now: T0, limit: 10, owner: 'victim', leaseMs: LEASE_MS }))
    const pid = await blockedClaimBackend()
    await admin.query('SELECT pg_terminate_backend($1)', [pid])
    const error = await claim
    await admin.query('COMMIT')

    expect(error).toBeInstanceOf(JobQueueError)
    expect(error).toMatchObject({ retryable: true, code: 'job-queue.unavailable' })
    expect((error as Error).message).toMatch(/^\[sluice:postgres\] job-queue\.claim failed: .*57P01/)

    const { rows } = await admin.query(`SELECT owner, lease_until_ms FROM ${jobs} WHERE id = $1`, [id])
    expect(rows).toEqual([{ owner: null, lease_until_ms: null }])
    expect(await first.jobQueue.count()).toBe(1)

    const { a, all } = await race()
    expect(all.map((j) => j.id)).toEqual([id])
    expect((await race(T0 + LEASE_MS - 1)).all).toEqual([])

    // Only the winner can settle it.
    const [winner, loser] = a.length === 1 ? ['racer-a', 'racer-b'] : ['racer-b', 'racer-a']
    expect(await second.jobQueue.complete(id, loser)).toBe(false)
    expect(await second.jobQueue.complete(id, 'victim')).toBe(false)
    expect(await second.jobQueue.complete(id, winner)).toBe(true)
    expect(await first.jobQueue.count()).toBe(0)
    await expectStoreWorks(first)
  })

  it('after it wrote the lease but before it committed rolls the lease back, and the job is handed out once afterwards', async () => {
    const ids = await first.jobQueue.enqueue([job('one'), job('two'), job('three')])
    const jobs = `"${schema}"."jobs"`
    const lockKey = `sluice-durability:${schema}`

    // A trigger makes the claim wait after its UPDATE has written the new owner and lease to every
    // row (AFTER ROW triggers fire at the end of the statement), on an advisory lock the test holds:
    // the hand-out is then mid-way, uncommitted.
    await admin.query(
      `CREATE FUNCTION "${schema}".hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM pg_advisory_xact_lock(hashtextextended('${lockKey}', 0)); RETURN NULL; END $$`,
    )
    await admin.query(
      `CREATE TRIGGER hold_claim AFTER UPDATE ON ${jobs}
       FOR EACH ROW WHEN (NEW.owner = 'victim') EXECUTE FUNCTION "${schema}".hold_claim()`,
    )
    await admin.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey])

    const claim = rejection(first.jobQueue.claim({ now: T0, limit: 10, owner: 'victim', leaseMs: LEASE_MS }))
    const pid = await blockedClaimBackend()
    const { rows: waiting } = await admin.query('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [
      pid,
    ])
    expect(waiting, 'the claim waits in the trigger, after its UPDATE').toEqual([{ wait_event: 'advisory' }])
    // Meanwhile the committed state still shows every job unleased.
    const { rows: committed } = await admin.query(`SELECT DISTINCT owner FROM ${jobs}`)
    expect(committed).toEqual([{ owner: null }])
    // Other claimers skip the rows it holds rather than taking them.
    expect(
      await second.jobQueue.claim({ now: T0, limit: 10, owner: 'bystander', leaseMs: LEASE_MS }),
    ).toEqual([])

    await admin.query('SELECT pg_terminate_backend($1)', [pid])
    const error = await claim
    await admin.query('SELECT pg_advisory_unlock_all()')
    await admin.query(`DROP TRIGGER hold_claim ON ${jobs}`)

    expect(error).toMatchObject({ retryable: true, code: 'job-queue.unavailable' })
    const { rows } = await admin.query(`SELECT DISTINCT owner FROM ${jobs}`)
    expect(rows, 'no lease of the killed claim survived').toEqual([{ owner: null }])
    expect(await first.jobQueue.count()).toBe(3)

    const { all } = await race()
    expect(all.map((j) => j.id).sort()).toEqual([...ids].sort())
    expect((await race()).all).toEqual([])
    await expectStoreWorks(first)
  })

  it('after it committed (the claimer died before it could run the job): the job waits out the lease, then goes to exactly one claimer', async () => {
    const [id] = (await first.jobQueue.enqueue([job('orphaned')])) as [string]
    const orphaned = await first.jobQueue.claim({ now: T0, limit: 10, owner: 'victim', leaseMs: LEASE_MS })
    expect(orphaned.map((j) => j.id)).toEqual([id])
    await first.close()
    first = await createPostgresStore({ url: postgresUrl, schema, applicationName, poolSize: 2 })

    expect((await race(T0 + LEASE_MS - 1)).all).toEqual([])
    const { all } = await race(T0 + LEASE_MS)
    expect(all.map((j) => j.id)).toEqual([id])
    expect(await first.jobQueue.complete(id, 'victim'), 'the dead claimer lost its lease').toBe(false)
    expect(await first.jobQueue.count()).toBe(1)
  })
})

describe('the pool after a terminated backend', { timeout: 30_000 }, () => {
  it('replaces the dead connection: every pooled connection killed, the next operations still succeed', async () => {
    await expectStoreWorks(first)
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    )
    expect(rows.length).toBeGreaterThan(0)
    for (const { pid } of rows) await admin.query('SELECT pg_terminate_backend($1)', [pid])

    // Idle connections learn of their death asynchronously; an operation that picks one up before
    // the pool noticed fails retryably, as core's retry policy expects. Retry until the pool is healthy.
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        expect(await first.jobQueue.count()).toBe(0)
        break
      } catch (error) {
        expect(error).toMatchObject({ retryable: true })
        if (Date.now() > deadline) throw error
      }
    }
    await expectStoreWorks(first)
    const { rows: fresh } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    )
    expect(fresh.map((row) => row.pid).filter((pid) => rows.some((old) => old.pid === pid))).toEqual([])
  })
})

describe('statementTimeoutMs', { timeout: 30_000 }, () => {
  it('fails a statement stuck on a lock retryably instead of waiting forever', async () => {
    const impatient = await createPostgresStore({
      url: postgresUrl,
      schema,
      applicationName: `${applicationName}-impatient`,
      statementTimeoutMs: 200,
    })
    try {
      await admin.query('BEGIN')
      await admin.query(`LOCK TABLE "${schema}"."jobs" IN ACCESS EXCLUSIVE MODE`)
      const error = await rejection(impatient.jobQueue.count())
      await admin.query('ROLLBACK')
      expect(error).toMatchObject({ retryable: true, code: 'job-queue.timeout' })
      expect(await impatient.jobQueue.count()).toBe(0)
    } finally {
      await impatient.close()
    }
  })
})
