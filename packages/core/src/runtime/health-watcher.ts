import { describeError, ValidationError } from '../errors.js'
import {
  advanceHealth,
  type ConfigHealth,
  DEFAULT_HEALTH_POLICY,
  type HealthPolicy,
  type HealthSample,
  type HealthStatus,
  type HealthUpdate,
  initialHealth,
  pauseHealth,
  recentCounts,
  recordHealth,
} from '../policy/index.js'
import type { Clock } from '../ports/clock.js'
import type { LogLevel } from '../ports/log-sink.js'
import type { Registry } from '../ports/registry.js'
import type { Telemetry } from './telemetry.js'

/** A config's health as the admin API shows it: plain JSON. */
export interface HealthState {
  configId: number
  status: HealthStatus
  /** Budget left, rounded to one decimal. */
  budget: number
  capacity: number
  /** Failed calls within the policy's recent window. */
  recentErrors: number
  /** Slow calls within the policy's recent window. */
  recentSlowCalls: number
  /** Pauses the policy imposed within its pause window (operator pauses not counted). */
  recentPauses: number
  /** While paused: epoch ms at which the pause ends. */
  pausedUntil: number | null
  /** Epoch ms at which the current status began. */
  since: number
  /** Why the status last changed, or the last error or slow call seen. */
  lastReason: string | null
}

/** The identity of a loaded config, as the watcher tracks it. */
export interface WatchedConfig {
  id: number
  teamId: number
  revision: number
}

/** Options of {@link createHealthWatcher}. */
export interface HealthWatcherOptions {
  clock: Clock
  registry: Registry
  telemetry: Telemetry
  /** Tells every instance to reload configs; called after the watcher disabled one. */
  announceChange: () => Promise<void>
  /** Overrides of {@link DEFAULT_HEALTH_POLICY}. */
  policy?: Partial<HealthPolicy>
  /** Where a failure to disable a config is reported. */
  onError?: (error: unknown) => void
}

/**
 * Watches the plugin calls of the configs loaded on this instance (SPEC §5): errors and slow
 * calls spend a per-config budget; a config is degraded, paused, then disabled. Pauses are per
 * instance; disabling writes the registry, so every instance stops the config.
 */
export interface HealthWatcher {
  readonly policy: HealthPolicy
  /** Starts watching a loaded config. A reloaded config (edited, re-enabled, new plugin version) starts healthy. */
  track(config: WatchedConfig): void
  /** Stops watching an unloaded config; a disabled one stays listed with its reason. */
  untrack(configId: number): void
  /** Charges the outcome of plugin calls to a config. */
  record(config: WatchedConfig, sample: HealthSample): void
  /**
   * Null when the config's work may run now; otherwise the epoch ms until which it waits (the
   * end of its pause, or a short recheck while a disabled config is being unloaded).
   */
  heldUntil(configId: number): number | null
  /** Every watched config, by id. */
  list(): HealthState[]
  /** Null when the config is not loaded on this instance (and was not disabled by the watcher). */
  get(configId: number): HealthState | null
  /**
   * Operator override: healthy with a full budget and no pause history. A config the watcher
   * disabled is re-enabled in the registry (`updateConfig(id, { enabled: true })`), not here.
   */
  reset(configId: number): HealthState | null
  /** Operator override: pause the config on this instance for `ms`; a disabled config stays disabled. */
  pause(configId: number, ms: number): HealthState | null
  /** Resolves once the registry writes of configs disabled so far are done (graceful stop, tests). */
  flush(): Promise<void>
}

/** How soon a disabled config's held work is looked at again while the config is unloaded. */
const DISABLED_RECHECK_MS = 5_000

interface Entry extends WatchedConfig {
  health: ConfigHealth
}

/** Recoveries are news, trouble is a warning, disabling an error. */
const levelFor = (from: HealthStatus, to: HealthStatus): LogLevel =>
  to === 'disabled' ? 'error' : to === 'healthy' || from === 'paused' ? 'info' : 'warn'

/** Creates the health watcher. */
export function createHealthWatcher(options: HealthWatcherOptions): HealthWatcher {
  const { clock, registry, telemetry } = options
  const policy: HealthPolicy = Object.freeze({ ...DEFAULT_HEALTH_POLICY, ...options.policy })
  const onError = options.onError ?? (() => {})
  const entries = new Map<number, Entry>()
  const pending = new Set<Promise<void>>()

  const disable = async (entry: Entry, reason: string) => {
    try {
      await registry.updateConfig(entry.id, {
        enabled: false,
        error: { message: `disabled by the health watcher: ${reason}`, time: clock.now(), source: 'health' },
      })
      await options.announceChange()
    } catch (error) {
      onError(
        new Error(`health watcher could not disable plugin config ${entry.id}: ${describeError(error)}`),
      )
    }
  }

  const apply = (entry: Entry, update: HealthUpdate) => {
    entry.health = update.health
    for (const { from, to, reason } of update.transitions) {
      telemetry.log({
        configId: entry.id,
        teamId: entry.teamId,
        level: levelFor(from, to),
        source: 'system',
        message: `health: ${from} → ${to}: ${reason}`,
      })
      if (to === 'disabled') {
        const write = disable(entry, reason).finally(() => pending.delete(write))
        pending.add(write)
      }
    }
  }

  /** The entry brought up to now. */
  const current = (configId: number) => {
    const entry = entries.get(configId)
    if (entry) apply(entry, advanceHealth(policy, entry.health, clock.now()))
    return entry
  }

  const view = (entry: Entry): HealthState => {
    const { health } = entry
    const { errors, slowCalls } = recentCounts(health)
    return {
      configId: entry.id,
      status: health.status,
      budget: Math.round(health.budget * 10) / 10,
      capacity: policy.capacity,
      recentErrors: errors,
      recentSlowCalls: slowCalls,
      recentPauses: health.pauses.length,
      pausedUntil: health.pausedUntil,
      since: health.since,
      lastReason: health.lastReason,
    }
  }

  return {
    policy,
    track(config) {
      const existing = entries.get(config.id)
      const entry: Entry = { ...config, health: initialHealth(policy, clock.now()) }
      entries.set(config.id, entry)
      if (existing && existing.health.status !== 'healthy') {
        apply(entry, {
          health: entry.health,
          transitions: [
            {
              from: existing.health.status,
              to: 'healthy',
              reason: `config reloaded (revision ${config.revision}): a full budget`,
            },
          ],
        })
      }
    },
    untrack(configId) {
      if (entries.get(configId)?.health.status !== 'disabled') entries.delete(configId)
    },
    record(config, sample) {
      const entry = entries.get(config.id)
      if (!entry || entry.revision !== config.revision) return
      apply(entry, recordHealth(policy, entry.health, clock.now(), sample))
    },
    heldUntil(configId) {
      const entry = current(configId)
      if (!entry) return null
      if (entry.health.status === 'paused') return entry.health.pausedUntil
      if (entry.health.status === 'disabled') return clock.now() + DISABLED_RECHECK_MS
      return null
    },
    list: () => [...entries.keys()].sort((a, b) => a - b).map((id) => view(current(id) as Entry)),
    get(configId) {
      const entry = current(configId)
      return entry ? view(entry) : null
    },
    reset(configId) {
      const entry = current(configId)
      if (!entry) return null
      const from = entry.health.status
      const health = initialHealth(policy, clock.now())
      const reason = 'reset by the operator: a full budget'
      apply(entry, {
        health: { ...health, lastReason: reason },
        transitions: from === 'healthy' ? [] : [{ from, to: 'healthy', reason }],
      })
      return view(entry)
    },
    pause(configId, ms) {
      if (!Number.isFinite(ms) || ms <= 0) {
        throw new ValidationError('health', 'cannot pause the plugin config', [
          { field: 'ms', message: `must be a positive number of milliseconds, got ${String(ms)}` },
        ])
      }
      const entry = current(configId)
      if (!entry) return null
      if (entry.health.status !== 'disabled') {
        const reason = `paused by the operator for ${Math.round(ms / 1000)} s`
        apply(entry, pauseHealth(policy, entry.health, clock.now(), ms, reason))
      }
      return view(entry)
    },
    async flush() {
      await Promise.all(pending)
    },
  }
}
