/**
 * Retry policies as data (SPEC §2). A policy only says *when* the next attempt is due and what
 * happens once it is used up; the caller turns that into a durable job on the `JobQueue`.
 * Nothing here sleeps.
 */

/** What happens when a policy has no retries left. */
export type RetryExhaustedAction = 'disable-config' | 'give-up' | 'dead-letter'

/** A retry schedule: one delay per retry, then a final action. */
export interface RetryPolicy {
  /** Name shown in logs and job records, e.g. `onEvent`. */
  readonly name: string
  /**
   * Delay before each retry, in milliseconds, measured from the failure that triggers it.
   * `delaysMs[0]` follows the first failure; its length is the number of retries (the first
   * attempt is not counted here).
   */
  readonly delaysMs: readonly number[]
  /** What to do after the last retry also failed. */
  readonly onExhausted: RetryExhaustedAction
}

/** A retry is due: enqueue attempt number `attempt` to run at `retryAt`. */
export interface RetryScheduled {
  /** Epoch milliseconds at which the retry should run. */
  readonly retryAt: number
  /** 1-based number of the attempt that runs at `retryAt` (the first try is attempt 1). */
  readonly attempt: number
}

/** The policy is used up: carry out its final action. */
export interface RetryExhausted {
  /** The policy's `onExhausted` action. */
  readonly exhausted: RetryExhaustedAction
}

const SECOND = 1000

function definePolicy(
  name: string,
  delaysSeconds: readonly number[],
  onExhausted: RetryExhaustedAction,
): RetryPolicy {
  return Object.freeze({ name, delaysMs: Object.freeze(delaysSeconds.map((s) => s * SECOND)), onExhausted })
}

/** `setupPlugin`: retried after 5, 10, 20, 40, 80 s on `RetryError`, then the config is disabled. */
export const SETUP_RETRY_POLICY: RetryPolicy = definePolicy(
  'setupPlugin',
  [5, 10, 20, 40, 80],
  'disable-config',
)

/**
 * `onEvent`: retried after 5, 10, 20, 40, 80 s on `RetryError`, then given up and recorded.
 * Also used for `onSnapshot` and plugin jobs.
 */
export const ON_EVENT_RETRY_POLICY: RetryPolicy = definePolicy('onEvent', [5, 10, 20, 40, 80], 'give-up')

/** `exportEvents`: the batch is retried after 6, 12, 24 s, then moved to the dead-letter store. */
export const EXPORT_EVENTS_RETRY_POLICY: RetryPolicy = definePolicy(
  'exportEvents',
  [6, 12, 24],
  'dead-letter',
)

/**
 * Webhook delivery (`composeWebhook`): 3 tries in total — the first immediately, retries after
 * 5 s and 30 s — then the request goes to the dead-letter store.
 */
export const WEBHOOK_DELIVERY_POLICY: RetryPolicy = definePolicy('webhook', [5, 30], 'dead-letter')

/**
 * Whether an HTTP answer with this status may succeed when sent again: server errors, 408 Request
 * Timeout and 429 Too Many Requests. Other 4xx answers reject the request itself, so a webhook
 * delivery that gets one goes to the dead-letter store without retrying.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}

/** The functions that have a retry policy; `job` is any `jobs.<name>` handler. */
export type RetriedFunction = 'setupPlugin' | 'onEvent' | 'onSnapshot' | 'exportEvents' | 'job' | 'webhook'

/**
 * The retry policy of each retried function.
 *
 * @example
 * const next = nextRetry(RETRY_POLICIES.exportEvents, failedAttempts, clock.now())
 */
export const RETRY_POLICIES: Readonly<Record<RetriedFunction, RetryPolicy>> = Object.freeze({
  setupPlugin: SETUP_RETRY_POLICY,
  onEvent: ON_EVENT_RETRY_POLICY,
  onSnapshot: ON_EVENT_RETRY_POLICY,
  exportEvents: EXPORT_EVENTS_RETRY_POLICY,
  job: ON_EVENT_RETRY_POLICY,
  webhook: WEBHOOK_DELIVERY_POLICY,
})

/**
 * What to do after a failure: schedule the next attempt, or carry out the policy's final action.
 *
 * @param failedAttempts How many attempts have failed so far, the one just finished included
 *   (1 after the first failure). Pass the returned `attempt` back as `failedAttempts` when that
 *   attempt fails in turn.
 * @param now Epoch milliseconds of the failure, from the injected clock.
 * @throws RangeError when `failedAttempts` is not a whole number ≥ 1 or `now` is not finite.
 * @example
 * nextRetry(SETUP_RETRY_POLICY, 1, 0) // { retryAt: 5000, attempt: 2 }
 * nextRetry(SETUP_RETRY_POLICY, 6, 0) // { exhausted: 'disable-config' }
 */
export function nextRetry(
  policy: RetryPolicy,
  failedAttempts: number,
  now: number,
): RetryScheduled | RetryExhausted {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) {
    throw new RangeError(`failedAttempts must be a whole number ≥ 1, got ${failedAttempts}`)
  }
  if (!Number.isFinite(now)) throw new RangeError(`now must be finite epoch milliseconds, got ${now}`)
  const delay = policy.delaysMs[failedAttempts - 1]
  if (delay === undefined) return { exhausted: policy.onExhausted }
  return { retryAt: now + delay, attempt: failedAttempts + 1 }
}
