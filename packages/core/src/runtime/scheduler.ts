import { describeError } from '../errors.js'
import { nextScheduledRun, SCHEDULE_PERIODS, type SchedulePeriod } from '../policy/index.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type { Lock } from '../ports/lock.js'
import { PluginCallError } from '../ports/sandbox.js'
import type { ConfigManager } from './config-manager.js'
import type { HealthWatcher } from './health-watcher.js'
import type { Telemetry } from './telemetry.js'

/** The lock that elects the one instance running schedules. */
export const SCHEDULER_LOCK = 'sluice:scheduler'

/** Options of {@link createScheduler}. */
export interface SchedulerOptions {
  clock: Clock
  lock: Lock
  configs: ConfigManager
  telemetry: Telemetry
  /** This instance's id. */
  owner: string
  /** Skips the runs of paused configs; without it every ready config runs. */
  health?: HealthWatcher
  /**
   * Leadership lasts this long without renewal; the leader renews every third of it.
   * @default 30000
   */
  leaseMs?: number
}

/**
 * Runs `runEveryMinute/Hour/Day` of every ready config, on exactly one instance of the cluster
 * (the holder of {@link SCHEDULER_LOCK}). A task still running when its next turn comes is
 * skipped, not stacked.
 */
export interface Scheduler {
  start(): void
  /** Stops ticking, gives leadership up, and waits for running tasks. */
  stop(): Promise<void>
  /** Whether this instance currently holds the scheduler lock. */
  isLeader(): boolean
  /** Runs every config's `period` task now, as the tick would (when leader). */
  runPeriod(period: SchedulePeriod): Promise<void>
}

/** Creates the scheduler. */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { clock, lock, configs, telemetry, owner } = options
  const leaseMs = options.leaseMs ?? 30_000
  const running = new Map<string, Promise<void>>()
  const timers = new Set<TimerHandle>()
  // Leadership is a lease this instance measures itself: it lasts `leaseMs` from the moment the
  // winning acquire was sent (the lock store started its TTL later), so a renewal that hangs or
  // fails can never keep an instance acting as leader after the lock store let the lock go.
  let leaseUntil = 0
  let renewing = false
  let active = false
  const isLeader = () => clock.now() < leaseUntil

  const renew = async () => {
    // One renewal at a time, so answers cannot arrive out of order.
    if (renewing) return
    renewing = true
    const sentAt = clock.now()
    try {
      const held = await lock.acquire(SCHEDULER_LOCK, owner, leaseMs)
      leaseUntil = held ? sentAt + leaseMs : 0
    } catch {
      // Unreachable lock store: stop acting as leader until it answers again.
      leaseUntil = 0
    } finally {
      renewing = false
    }
  }

  const runPeriod = async (period: SchedulePeriod) => {
    if (!isLeader()) return
    const started: Promise<void>[] = []
    for (const config of configs.all()) {
      if (config.status !== 'ready' || !config.has(period)) continue
      if (options.health?.heldUntil(config.id) != null) continue
      const key = `${config.id}:${period}`
      if (running.has(key)) {
        telemetry.log({
          configId: config.id,
          teamId: config.teamId,
          level: 'warn',
          source: 'system',
          message: `${period} skipped: the previous run is still going`,
        })
        continue
      }
      const task = config.instance
        .call(period, [])
        .then(() => undefined)
        .catch((error) => {
          telemetry.log({
            configId: config.id,
            teamId: config.teamId,
            level: 'error',
            source: 'system',
            message: `${period} failed: ${describeError(error instanceof PluginCallError ? error.failure : error)}`,
          })
        })
        .finally(() => running.delete(key))
      running.set(key, task)
      started.push(task)
    }
    await Promise.all(started)
  }

  const every = (delay: () => number, action: () => void) => {
    const arm = () => {
      if (!active) return
      const handle = clock.setTimer(delay(), () => {
        timers.delete(handle)
        action()
        arm()
      })
      timers.add(handle)
    }
    arm()
  }

  return {
    start() {
      if (active) return
      active = true
      void renew()
      every(
        () => Math.floor(leaseMs / 3),
        () => void renew(),
      )
      for (const period of SCHEDULE_PERIODS) {
        every(
          () => nextScheduledRun(period, clock.now()) - clock.now(),
          () => void runPeriod(period),
        )
      }
    },
    async stop() {
      active = false
      for (const handle of timers) handle.cancel()
      timers.clear()
      await Promise.all(running.values())
      if (leaseUntil > 0) await lock.release(SCHEDULER_LOCK, owner).catch(() => {})
      leaseUntil = 0
    },
    isLeader,
    runPeriod,
  }
}
