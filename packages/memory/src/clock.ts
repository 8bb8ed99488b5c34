import type { Clock } from '@sluice/core'

/** The process clock: `Date.now()` and `setTimeout`. Timers do not keep the process alive. */
export function createSystemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer(delayMs, callback) {
      const timer = setTimeout(callback, Math.max(0, delayMs))
      timer.unref()
      return { cancel: () => clearTimeout(timer) }
    },
  }
}
