import type { Clock, TimerHandle } from './ports/clock.js'

/** A {@link Clock} that moves only when told to: deterministic time for tests and simulations. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, running every timer that falls due, in due order. */
  advance(ms: number): void
  /** Moves time forward to `epochMs` (never backwards), running timers that fall due. */
  advanceTo(epochMs: number): void
  /** Timers waiting to run. */
  pendingTimers(): number
}

interface ManualTimer {
  dueAt: number
  sequence: number
  callback: () => void
  cancelled: boolean
}

/**
 * Creates a manual clock starting at `startMs`.
 * @example
 * const clock = createManualClock(Date.UTC(2026, 0, 1))
 * clock.setTimer(1000, flush)
 * clock.advance(1000) // flush runs
 */
export function createManualClock(startMs = 0): ManualClock {
  let now = startMs
  let sequence = 0
  let timers: ManualTimer[] = []

  const nextDue = (limit: number): ManualTimer | undefined => {
    let next: ManualTimer | undefined
    for (const timer of timers) {
      if (timer.cancelled || timer.dueAt > limit) continue
      if (
        !next ||
        timer.dueAt < next.dueAt ||
        (timer.dueAt === next.dueAt && timer.sequence < next.sequence)
      ) {
        next = timer
      }
    }
    return next
  }

  const advanceTo = (target: number) => {
    if (target < now) return
    // Timers set by a running callback may themselves fall due before `target`.
    for (let timer = nextDue(target); timer; timer = nextDue(target)) {
      now = Math.max(now, timer.dueAt)
      timer.cancelled = true
      timers = timers.filter((t) => t !== timer)
      timer.callback()
    }
    now = target
  }

  return {
    now: () => now,
    setTimer(delayMs: number, callback: () => void): TimerHandle {
      const timer: ManualTimer = {
        dueAt: now + Math.max(0, delayMs),
        sequence: sequence++,
        callback,
        cancelled: false,
      }
      timers.push(timer)
      return {
        cancel() {
          timer.cancelled = true
          timers = timers.filter((t) => t !== timer)
        },
      }
    },
    advance: (ms: number) => advanceTo(now + ms),
    advanceTo,
    pendingTimers: () => timers.filter((t) => !t.cancelled).length,
  }
}
