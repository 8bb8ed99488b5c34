import {
  assertClaimOptions,
  assertJobAttempt,
  assertJobTime,
  assertNewJob,
  type Job,
  type JobQueue,
  type JobQueueCapabilities,
  JobQueueError,
} from '@sluice/core'
import {
  createGuard,
  parseBigintId,
  type StoreContext,
  tableName,
  toNullableNumber,
  toNumber,
} from './context.js'
import type { Row } from './driver.js'

const JOB_COLUMNS = 'id, kind, config_id, name, payload, run_at_ms, attempt'

function sql(context: StoreContext) {
  const jobs = tableName(context, 'jobs')
  return {
    // Rows come out of unnest in array order and take their ids in that order.
    enqueue: `
      INSERT INTO ${jobs} (kind, config_id, name, payload, run_at_ms, attempt)
      SELECT kind, config_id, name, payload, run_at_ms, attempt
      FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::integer[])
        WITH ORDINALITY AS input (kind, config_id, name, payload, run_at_ms, attempt, position)
      ORDER BY position
      RETURNING id`,
    // The inner SELECT locks the due rows it picks and skips rows another claim has locked, so two
    // claims never pick the same job; a row updated since this statement's snapshot is re-checked
    // against the WHERE before it is locked. A job is due when its run time has come and it is not
    // leased, or its lease ended (a claimer that crashed or stalled).
    claim: `
      UPDATE ${jobs} SET owner = $1, lease_until_ms = $2::float8 + $3::float8
      WHERE id IN (
        SELECT id FROM ${jobs}
        WHERE run_at_ms <= $2 AND (lease_until_ms IS NULL OR lease_until_ms <= $2)
        ORDER BY run_at_ms, id
        LIMIT $4
        FOR UPDATE SKIP LOCKED
      )
      RETURNING ${JOB_COLUMNS}`,
    // The owner column keeps the last claimer until another claim takes the job, so an expired
    // lease still lets its holder settle the job as long as nobody else has it.
    complete: `DELETE FROM ${jobs} WHERE id = $1 AND owner = $2`,
    reschedule: `
      UPDATE ${jobs} SET run_at_ms = $3, attempt = $4, owner = NULL, lease_until_ms = NULL
      WHERE id = $1 AND owner = $2`,
    count: `SELECT count(*)::float8 AS count FROM ${jobs}`,
  }
}

/**
 * Creates the {@link JobQueue} over the store's `jobs` table. `claim` is one
 * `UPDATE … WHERE id IN (SELECT … ORDER BY run_at, id FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`
 * statement: a claim either commits with its leases written or leaves every job as it was, so a
 * connection lost mid-claim neither loses a job nor hands it out twice. Due-ness and lease expiry
 * compare with the `now` each claim passes, never the database clock.
 */
export function createPostgresJobQueue(context: StoreContext, capabilities: JobQueueCapabilities): JobQueue {
  const { driver } = context
  const statements = sql(context)
  const guard = createGuard(context, JobQueueError, 'job-queue')

  return {
    capabilities,

    enqueue: (jobs) =>
      guard('enqueue', async () => {
        jobs.forEach(assertNewJob)
        if (jobs.length === 0) return []
        const { rows } = await driver.query<{ id: unknown }>(statements.enqueue, [
          jobs.map((job) => job.kind),
          jobs.map((job) => job.configId),
          jobs.map((job) => job.name),
          jobs.map((job) => job.payload),
          jobs.map((job) => job.runAt),
          jobs.map((job) => job.attempt ?? 0),
        ])
        return rows
          .map((row) => BigInt(String(row.id)))
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .map(String)
      }),

    claim: (options) =>
      guard('claim', async () => {
        assertClaimOptions(options)
        if (options.limit === 0) return []
        const { rows } = await driver.query(statements.claim, [
          options.owner,
          options.now,
          options.leaseMs,
          options.limit,
        ])
        return rows.map(toJob).sort((a, b) => a.runAt - b.runAt || compareIds(a.id, b.id))
      }),

    complete: (id, owner) =>
      guard('complete', async () => {
        const jobId = parseBigintId(id)
        if (jobId === undefined) return false
        return (await driver.query(statements.complete, [jobId, owner])).rowCount > 0
      }),

    reschedule: (id, owner, runAt, attempt) =>
      guard('reschedule', async () => {
        assertJobTime('runAt', runAt)
        assertJobAttempt(attempt)
        const jobId = parseBigintId(id)
        if (jobId === undefined) return false
        return (await driver.query(statements.reschedule, [jobId, owner, runAt, attempt])).rowCount > 0
      }),

    count: () =>
      guard('count', async () => {
        const { rows } = await driver.query<{ count: unknown }>(statements.count)
        return toNumber(rows[0]?.count)
      }),
  }
}

function toJob(row: Row): Job {
  return {
    id: String(row.id),
    kind: row.kind as string,
    configId: toNullableNumber(row.config_id),
    name: row.name as string,
    payload: row.payload as string,
    runAt: toNumber(row.run_at_ms),
    attempt: toNumber(row.attempt),
  }
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}
