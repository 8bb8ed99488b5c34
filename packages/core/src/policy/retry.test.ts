import { describe, expect, it } from 'vitest'
import {
  EXPORT_EVENTS_RETRY_POLICY,
  isRetryableStatus,
  nextRetry,
  ON_EVENT_RETRY_POLICY,
  RETRY_POLICIES,
  type RetryPolicy,
  SETUP_RETRY_POLICY,
  WEBHOOK_DELIVERY_POLICY,
} from './retry.js'

const NOW = Date.UTC(2024, 5, 1, 12)

/** Every outcome from the first failure until the policy is used up, plus one more call. */
function walk(policy: RetryPolicy, extraCalls = 1) {
  const outcomes = []
  for (let failed = 1; failed <= policy.delaysMs.length + 1 + extraCalls; failed++) {
    outcomes.push(nextRetry(policy, failed, NOW))
  }
  return outcomes
}

describe('retry policies (SPEC §2)', () => {
  it('setupPlugin retries after 5, 10, 20, 40, 80 s, then disables the config', () => {
    expect(SETUP_RETRY_POLICY.delaysMs).toEqual([5_000, 10_000, 20_000, 40_000, 80_000])
    expect(walk(SETUP_RETRY_POLICY)).toEqual([
      { retryAt: NOW + 5_000, attempt: 2 },
      { retryAt: NOW + 10_000, attempt: 3 },
      { retryAt: NOW + 20_000, attempt: 4 },
      { retryAt: NOW + 40_000, attempt: 5 },
      { retryAt: NOW + 80_000, attempt: 6 },
      { exhausted: 'disable-config' },
      { exhausted: 'disable-config' },
    ])
  })

  it('onEvent retries after 5, 10, 20, 40, 80 s, then gives up', () => {
    expect(walk(ON_EVENT_RETRY_POLICY)).toEqual([
      { retryAt: NOW + 5_000, attempt: 2 },
      { retryAt: NOW + 10_000, attempt: 3 },
      { retryAt: NOW + 20_000, attempt: 4 },
      { retryAt: NOW + 40_000, attempt: 5 },
      { retryAt: NOW + 80_000, attempt: 6 },
      { exhausted: 'give-up' },
      { exhausted: 'give-up' },
    ])
  })

  it('exportEvents retries after 6, 12, 24 s, then dead-letters the batch', () => {
    expect(walk(EXPORT_EVENTS_RETRY_POLICY)).toEqual([
      { retryAt: NOW + 6_000, attempt: 2 },
      { retryAt: NOW + 12_000, attempt: 3 },
      { retryAt: NOW + 24_000, attempt: 4 },
      { exhausted: 'dead-letter' },
      { exhausted: 'dead-letter' },
    ])
  })

  it('webhook delivery makes 3 tries in total: retries after 5 s and 30 s, then dead-letters', () => {
    expect(walk(WEBHOOK_DELIVERY_POLICY)).toEqual([
      { retryAt: NOW + 5_000, attempt: 2 },
      { retryAt: NOW + 30_000, attempt: 3 },
      { exhausted: 'dead-letter' },
      { exhausted: 'dead-letter' },
    ])
  })

  it('measures each delay from the given failure time, not from the first attempt', () => {
    expect(nextRetry(ON_EVENT_RETRY_POLICY, 3, 1_000)).toEqual({ retryAt: 21_000, attempt: 4 })
  })

  it('maps every retried function to its policy; onSnapshot and jobs share onEvent’s', () => {
    expect(RETRY_POLICIES).toEqual({
      setupPlugin: SETUP_RETRY_POLICY,
      onEvent: ON_EVENT_RETRY_POLICY,
      onSnapshot: ON_EVENT_RETRY_POLICY,
      exportEvents: EXPORT_EVENTS_RETRY_POLICY,
      job: ON_EVENT_RETRY_POLICY,
      webhook: WEBHOOK_DELIVERY_POLICY,
    })
    expect(RETRY_POLICIES.onSnapshot).toBe(ON_EVENT_RETRY_POLICY)
    expect(RETRY_POLICIES.job).toBe(ON_EVENT_RETRY_POLICY)
  })

  it('names each policy after its function', () => {
    expect(
      [SETUP_RETRY_POLICY, ON_EVENT_RETRY_POLICY, EXPORT_EVENTS_RETRY_POLICY, WEBHOOK_DELIVERY_POLICY].map(
        (p) => p.name,
      ),
    ).toEqual(['setupPlugin', 'onEvent', 'exportEvents', 'webhook'])
  })

  it('freezes the shared policies so no caller can change another’s schedule', () => {
    expect(Object.isFrozen(SETUP_RETRY_POLICY)).toBe(true)
    expect(Object.isFrozen(SETUP_RETRY_POLICY.delaysMs)).toBe(true)
    expect(Object.isFrozen(RETRY_POLICIES)).toBe(true)
    expect(() => (SETUP_RETRY_POLICY.delaysMs as number[]).push(1)).toThrow(TypeError)
  })

  it('works for a custom policy, including one with no retries', () => {
    const none: RetryPolicy = { name: 'once', delaysMs: [], onExhausted: 'give-up' }
    expect(nextRetry(none, 1, NOW)).toEqual({ exhausted: 'give-up' })
  })

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects failedAttempts %s', (failed) => {
    expect(() => nextRetry(ON_EVENT_RETRY_POLICY, failed, NOW)).toThrow(RangeError)
  })

  it('rejects a non-finite now', () => {
    expect(() => nextRetry(ON_EVENT_RETRY_POLICY, 1, Number.NaN)).toThrow(/now must be finite/)
  })
})

describe('isRetryableStatus', () => {
  it('retries server errors, 408 and 429, and nothing else', () => {
    const retried = [200, 301, 400, 401, 404, 408, 410, 422, 429, 500, 502, 503].filter(isRetryableStatus)
    expect(retried).toEqual([408, 429, 500, 502, 503])
  })
})
