import { JobQueueError } from '../errors.js'
import type { ClaimOptions, NewJob } from './job-queue.js'

/**
 * Input checks every JobQueue adapter applies before touching its store, so all of them refuse
 * the same bad input with the same non-retryable `job-queue.invalid` error.
 */

function invalid(message: string): JobQueueError {
  return new JobQueueError(message, { retryable: false, code: 'job-queue.invalid' })
}

/** Throws unless `value` is a finite epoch-ms number; `field` names it in the message. */
export function assertJobTime(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`${field} must be a finite epoch-ms number, got ${String(value)}`)
  }
}

/** Throws unless `job` (the `index`-th of an enqueue) is a well-formed {@link NewJob}. */
export function assertNewJob(job: NewJob, index: number): void {
  for (const field of ['kind', 'name', 'payload'] as const) {
    if (typeof job?.[field] !== 'string') {
      throw invalid(`job ${index}: ${field} must be a string, got ${typeof job?.[field]}`)
    }
  }
  if (job.configId !== null && !Number.isInteger(job.configId)) {
    throw invalid(`job ${index}: configId must be an integer or null, got ${String(job.configId)}`)
  }
  assertJobTime(`job ${index}: runAt`, job.runAt)
  assertJobAttempt(job.attempt, `job ${index}: attempt`, true)
}

/** Throws unless `attempt` is a non-negative integer (or, when `optional`, undefined). */
export function assertJobAttempt(attempt: unknown, field = 'attempt', optional = false): void {
  if (optional && attempt === undefined) return
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 0) {
    throw invalid(`${field} must be a non-negative integer, got ${String(attempt)}`)
  }
}

/** Throws unless `options` are valid {@link ClaimOptions}. */
export function assertClaimOptions(options: ClaimOptions): void {
  assertJobTime('claim now', options?.now)
  if (!Number.isInteger(options.limit) || options.limit < 0) {
    throw invalid(`claim limit must be a non-negative integer, got ${String(options.limit)}`)
  }
  if (typeof options.owner !== 'string' || options.owner.length === 0) {
    throw invalid('claim needs a non-empty owner, e.g. the instance id')
  }
  if (typeof options.leaseMs !== 'number' || !Number.isFinite(options.leaseMs) || options.leaseMs <= 0) {
    throw invalid(`claim leaseMs must be a positive number, got ${String(options.leaseMs)}`)
  }
}
