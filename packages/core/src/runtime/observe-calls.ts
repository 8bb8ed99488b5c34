import { longestLane } from '../policy/index.js'
import type { Clock } from '../ports/clock.js'
import {
  type CallOutcome,
  type JsonCallOutcome,
  PluginCallError,
  type PluginFailure,
  type PluginFunctionName,
  type PluginInstance,
} from '../ports/sandbox.js'
import type { HealthWatcher, WatchedConfig } from './health-watcher.js'
import type { Telemetry } from './telemetry.js'

/** Where the observations of one config's plugin calls go. */
export interface ObservePluginCallsOptions {
  clock: Clock
  /** Call latencies, per function. */
  telemetry: Telemetry
  /** Errors and slow calls, charged to the config's health budget; none when health is not watched. */
  watcher?: HealthWatcher
  config: WatchedConfig
}

/** Functions not charged to health: setup has its own retry-then-disable rule, teardown is bounded. */
const UNCHARGED = new Set<string>(['setupPlugin', 'teardownPlugin', 'getSettings'])

const describeFailure = (fn: string, failure: PluginFailure) =>
  `${fn} failed: ${failure.name}: ${failure.message}`

/**
 * Wraps a config's plugin instance so that every call is timed, its latency recorded and its
 * errors and slowness charged to the health watcher: the one place where plugin calls are
 * observed. A batch (`callEach`) is timed as a whole; each of its calls is taken to have lasted
 * the batch's time divided by the calls of its longest lane (calls of one lane run one after
 * another, lanes side by side), and counts as slow when that reaches `slowCallMs`.
 */
export function observePluginCalls(
  instance: PluginInstance,
  options: ObservePluginCallsOptions,
): PluginInstance {
  const { clock, telemetry, watcher, config } = options
  const slowCallMs = watcher?.policy.slowCallMs ?? Number.POSITIVE_INFINITY
  const charged = (fn: string) => watcher !== undefined && !UNCHARGED.has(fn)

  const observeEach = async <O extends CallOutcome | JsonCallOutcome>(
    fn: PluginFunctionName,
    calls: readonly { lane: string }[],
    run: () => Promise<O[]>,
  ): Promise<O[]> => {
    const started = clock.now()
    const outcomes = await run()
    const took = clock.now() - started
    const inLongestLane = Math.max(
      1,
      longestLane(calls, (call) => call.lane),
    )
    const perCall = took / inLongestLane
    telemetry.observeCalls(config.id, fn, perCall / 1000, calls.length)
    if (!charged(fn)) return outcomes
    const slowCalls = perCall >= slowCallMs ? inLongestLane : 0
    let errors = 0
    let reason: string | null = slowCalls > 0 ? `${fn} took ${Math.round(perCall)} ms per call` : null
    for (const outcome of outcomes) {
      if (outcome.ok) continue
      errors += 1
      reason = describeFailure(fn, outcome.failure)
    }
    if (errors > 0 || slowCalls > 0) watcher?.record(config, { errors, slowCalls, reason })
    return outcomes
  }

  return {
    async call(fn, args) {
      const started = clock.now()
      try {
        const value = await instance.call(fn, args)
        const took = clock.now() - started
        telemetry.observeCalls(config.id, fn, took / 1000, 1)
        if (charged(fn) && took >= slowCallMs) {
          watcher?.record(config, { errors: 0, slowCalls: 1, reason: `${fn} took ${took} ms` })
        }
        return value
      } catch (error) {
        const took = clock.now() - started
        telemetry.observeCalls(config.id, fn, took / 1000, 1)
        // Only the plugin's own failures count; a host-side problem is not the plugin's doing.
        if (charged(fn) && error instanceof PluginCallError) {
          watcher?.record(config, {
            errors: 1,
            slowCalls: took >= slowCallMs ? 1 : 0,
            reason: describeFailure(fn, error.failure),
          })
        }
        throw error
      }
    },
    callEach: (fn, calls) => observeEach(fn, calls, () => instance.callEach(fn, calls)),
    callEachJson: (fn, calls) => observeEach(fn, calls, () => instance.callEachJson(fn, calls)),
    dispose: () => instance.dispose(),
  }
}
