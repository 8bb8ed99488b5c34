/**
 * The health watcher's policy (SPEC §5) as data and pure functions: per config, a budget that
 * errors and slow calls spend and time refills. A config whose budget runs low is degraded; one
 * that spends it all is paused for a while (longer each time); one that keeps doing so is
 * disabled. Every function takes the time and returns a new state; nothing here reads a clock.
 */

/** Where a config stands. */
export type HealthStatus = 'healthy' | 'degraded' | 'paused' | 'disabled'

/** The knobs of the health policy. */
export interface HealthPolicy {
  /**
   * The budget a healthy config has, and refills up to.
   * @default 100
   */
  readonly capacity: number
  /**
   * Budget regained per second (an empty budget is full again after `capacity / refillPerSecond` s).
   * @default 0.5
   */
  readonly refillPerSecond: number
  /**
   * What a failed call costs (an error the plugin threw, a timeout, a `RetryError`).
   * @default 1
   */
  readonly errorCost: number
  /**
   * A call that takes at least this long is slow.
   * @default 10000
   */
  readonly slowCallMs: number
  /**
   * What a slow call costs, on top of `errorCost` if it also failed.
   * @default 0.5
   */
  readonly slowCallCost: number
  /**
   * Degraded while the budget is below this share of `capacity`.
   * @default 0.5
   */
  readonly degradedBelow: number
  /**
   * How long the first pause lasts; each further pause within `pauseWindowMs` lasts twice as long.
   * @default 60000
   */
  readonly pauseMs: number
  /**
   * No pause lasts longer.
   * @default 3600000
   */
  readonly maxPauseMs: number
  /**
   * The share of `capacity` a config has at least when its pause ends.
   * @default 0.25
   */
  readonly resumeBudget: number
  /**
   * A config that spends its budget after this many pauses within `pauseWindowMs` is disabled.
   * @default 3
   */
  readonly maxPauses: number
  /**
   * The window in which pauses are counted.
   * @default 3600000
   */
  readonly pauseWindowMs: number
  /**
   * The window of the recent error and slow-call counts.
   * @default 600000
   */
  readonly recentWindowMs: number
}

/** The default health policy; see {@link HealthPolicy} for each value. */
export const DEFAULT_HEALTH_POLICY: HealthPolicy = Object.freeze({
  capacity: 100,
  refillPerSecond: 0.5,
  errorCost: 1,
  slowCallMs: 10_000,
  slowCallCost: 0.5,
  degradedBelow: 0.5,
  pauseMs: 60_000,
  maxPauseMs: 3_600_000,
  resumeBudget: 0.25,
  maxPauses: 3,
  pauseWindowMs: 3_600_000,
  recentWindowMs: 600_000,
})

/** Errors and slow calls counted in one minute. */
export interface HealthMinute {
  /** Epoch minute (`floor(ms / 60000)`). */
  minute: number
  errors: number
  slowCalls: number
}

/** One config's health: plain JSON data. */
export interface ConfigHealth {
  status: HealthStatus
  /** Budget left at `refilledAt`, between 0 and the policy's capacity. */
  budget: number
  /** Epoch ms up to which the budget has been refilled. */
  refilledAt: number
  /** Epoch ms at which the current status began. */
  since: number
  /** While paused: epoch ms at which the pause ends. */
  pausedUntil: number | null
  /** Epoch ms of the pauses the policy imposed within its pause window. */
  pauses: number[]
  /** Errors and slow calls per minute, within the recent window. */
  recent: HealthMinute[]
  /** Why the status last changed, or the last error or slow call seen. */
  lastReason: string | null
}

/** A change of status, with its reason (for the config's logs). */
export interface HealthTransition {
  from: HealthStatus
  to: HealthStatus
  reason: string
}

/** What a batch of plugin calls of one config cost. */
export interface HealthSample {
  /** Calls that failed. */
  errors: number
  /** Calls that took at least `slowCallMs`. */
  slowCalls: number
  /** The last failure or slow call, readable by an operator; kept as `lastReason`. */
  reason: string | null
}

/** The new state and the transitions that led to it, oldest first. */
export interface HealthUpdate {
  health: ConfigHealth
  transitions: HealthTransition[]
}

const MINUTE = 60_000

/** A fresh, healthy state with a full budget. */
export function initialHealth(policy: HealthPolicy, now: number): ConfigHealth {
  return {
    status: 'healthy',
    budget: policy.capacity,
    refilledAt: now,
    since: now,
    pausedUntil: null,
    pauses: [],
    recent: [],
    lastReason: null,
  }
}

const statusForBudget = (policy: HealthPolicy, budget: number): 'healthy' | 'degraded' =>
  budget < policy.capacity * policy.degradedBelow ? 'degraded' : 'healthy'

const describeBudget = (policy: HealthPolicy, budget: number) =>
  `budget ${Math.round(budget * 10) / 10} of ${policy.capacity}`

/**
 * Brings a state up to `now`: refills the budget, ends a pause that is over (resuming with
 * `resumeBudget`), and moves degraded ↔ healthy as the budget crosses `degradedBelow`.
 */
export function advanceHealth(policy: HealthPolicy, health: ConfigHealth, now: number): HealthUpdate {
  if (health.status === 'disabled' || now <= health.refilledAt) return { health, transitions: [] }
  const transitions: HealthTransition[] = []
  let next: ConfigHealth = {
    ...health,
    pauses: health.pauses.filter((time) => time > now - policy.pauseWindowMs),
    recent: health.recent.filter((m) => (m.minute + 1) * MINUTE > now - policy.recentWindowMs),
  }
  if (next.status === 'paused') {
    const until = next.pausedUntil ?? now
    if (now < until) return { health: { ...next, refilledAt: now }, transitions }
    // The pause refills nothing: the config restarts at the pause's end from the resume budget
    // (or what it had, when an operator paused it with more).
    const budget = Math.min(policy.capacity, Math.max(next.budget, policy.capacity * policy.resumeBudget))
    const status = statusForBudget(policy, budget)
    const reason = `pause ended; resuming with ${describeBudget(policy, budget)}`
    transitions.push({ from: 'paused', to: status, reason })
    next = { ...next, status, budget, refilledAt: until, since: until, pausedUntil: null, lastReason: reason }
  }
  const budget = Math.min(
    policy.capacity,
    next.budget + ((now - next.refilledAt) / 1000) * policy.refillPerSecond,
  )
  next = { ...next, budget, refilledAt: now }
  const status = statusForBudget(policy, budget)
  if (status !== next.status) {
    const reason = `${describeBudget(policy, budget)}: ${status === 'healthy' ? 'recovered' : 'running low'}`
    transitions.push({ from: next.status, to: status, reason })
    next = { ...next, status, since: now, lastReason: reason }
  }
  return { health: next, transitions }
}

const countRecent = (recent: readonly HealthMinute[], now: number, sample: HealthSample) => {
  const minute = Math.floor(now / MINUTE)
  const last = recent[recent.length - 1]
  if (last && last.minute === minute) {
    return [
      ...recent.slice(0, -1),
      { minute, errors: last.errors + sample.errors, slowCalls: last.slowCalls + sample.slowCalls },
    ]
  }
  return [...recent, { minute, errors: sample.errors, slowCalls: sample.slowCalls }]
}

/** The recent error and slow-call counts of a state. */
export function recentCounts(health: ConfigHealth): { errors: number; slowCalls: number } {
  let errors = 0
  let slowCalls = 0
  for (const m of health.recent) {
    errors += m.errors
    slowCalls += m.slowCalls
  }
  return { errors, slowCalls }
}

/**
 * Charges a sample to the budget at `now`. A paused or disabled config is not charged (its calls
 * in flight when it was paused still finish). Spending the whole budget pauses the config for
 * `pauseMs`, doubled for each earlier pause within `pauseWindowMs` (at most `maxPauseMs`), or
 * disables it once `maxPauses` pauses lie within that window.
 */
export function recordHealth(
  policy: HealthPolicy,
  health: ConfigHealth,
  now: number,
  sample: HealthSample,
): HealthUpdate {
  const advanced = advanceHealth(policy, health, now)
  let next = advanced.health
  const transitions = [...advanced.transitions]
  const cost = sample.errors * policy.errorCost + sample.slowCalls * policy.slowCallCost
  if (cost <= 0 || next.status === 'paused' || next.status === 'disabled') {
    return { health: next, transitions }
  }
  const budget = Math.max(0, next.budget - cost)
  next = {
    ...next,
    budget,
    recent: countRecent(next.recent, now, sample),
    lastReason: sample.reason ?? next.lastReason,
  }
  const { errors, slowCalls } = recentCounts(next)
  const cause = `${errors} errors and ${slowCalls} slow calls in the last ${Math.round(policy.recentWindowMs / MINUTE)} min${sample.reason ? `; last: ${sample.reason}` : ''}`
  if (budget <= 0) {
    if (next.pauses.length >= policy.maxPauses) {
      const reason = `budget spent again after ${next.pauses.length} pauses within ${Math.round(policy.pauseWindowMs / MINUTE)} min (${cause})`
      transitions.push({ from: next.status, to: 'disabled', reason })
      return {
        health: { ...next, status: 'disabled', since: now, pausedUntil: null, lastReason: reason },
        transitions,
      }
    }
    const length = Math.min(policy.maxPauseMs, policy.pauseMs * 2 ** next.pauses.length)
    const reason = `budget spent: paused for ${Math.round(length / 1000)} s (${cause})`
    transitions.push({ from: next.status, to: 'paused', reason })
    return {
      health: {
        ...next,
        status: 'paused',
        since: now,
        pausedUntil: now + length,
        pauses: [...next.pauses, now],
        lastReason: reason,
      },
      transitions,
    }
  }
  const status = statusForBudget(policy, budget)
  if (status !== next.status) {
    const reason = `${describeBudget(policy, budget)}: running low (${cause})`
    transitions.push({ from: next.status, to: status, reason })
    next = { ...next, status, since: now, lastReason: reason }
  }
  return { health: next, transitions }
}

/**
 * An operator's pause: paused until `now + ms` whatever the budget, ending like any pause. It
 * does not count towards `maxPauses`.
 */
export function pauseHealth(
  policy: HealthPolicy,
  health: ConfigHealth,
  now: number,
  ms: number,
  reason: string,
): HealthUpdate {
  const { health: current } = advanceHealth(policy, health, now)
  const transition: HealthTransition = { from: current.status, to: 'paused', reason }
  return {
    health: { ...current, status: 'paused', since: now, pausedUntil: now + ms, lastReason: reason },
    transitions: [transition],
  }
}
