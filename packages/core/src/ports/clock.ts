/** A scheduled callback that can be cancelled. */
export interface TimerHandle {
  /** Prevents the callback from running if it has not run yet. Idempotent. */
  cancel(): void
}

/**
 * Time, as core sees it. Core never reads the system clock or sets timers directly, so every
 * time-dependent rule (TTLs, buffers, retries, schedules) runs under a fake clock in tests.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  /** Runs `callback` once, `delayMs` from now (0 or less: as soon as possible). */
  setTimer(delayMs: number, callback: () => void): TimerHandle
}
