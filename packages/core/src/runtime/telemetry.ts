import { describeError } from '../errors.js'
import { applyMetric } from '../policy/index.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type { LogEntry, LogSink } from '../ports/log-sink.js'
import type { MetricsSink, MetricUpdate } from '../ports/metrics-sink.js'
import type { PluginFunctionName } from '../ports/sandbox.js'

/** A log entry before the instance id and time are stamped on it. */
export type PendingLogEntry = Omit<LogEntry, 'timestamp' | 'instanceId'>

/** Per-config counters the runtime keeps for ops (Prometheus) and the health view. */
export interface ConfigCounters {
  eventsIn: number
  eventsOut: number
  eventsDropped: number
  eventsFailed: number
  fetches: number
}

/**
 * Upper bounds, in seconds, of the buckets of the plugin call latency histogram: from a
 * millisecond (the host times calls with the clock's millisecond resolution) to the default call
 * time limit.
 */
export const CALL_LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]

/** How long one config's calls of one plugin function took on this instance. */
export interface CallLatency {
  /** The function, or `jobs.<name>` for a plugin job. */
  fn: PluginFunctionName | `jobs.${string}`
  /**
   * Calls that took at most each bound of {@link CALL_LATENCY_BUCKETS}, cumulative (Prometheus
   * `le` buckets); calls above the last bound are counted in `count` only.
   */
  buckets: number[]
  count: number
  sumSeconds: number
}

/** Options of {@link createTelemetry}. */
export interface TelemetryOptions {
  clock: Clock
  logSink: LogSink
  metricsSink: MetricsSink
  instanceId: string
  /**
   * How long logs and metric updates are buffered before they are written.
   * @default 1000
   */
  flushIntervalMs?: number
  /** Where failures to write logs or metrics are reported (never thrown into plugin calls). */
  onError?: (error: unknown) => void
}

/**
 * Buffers plugin logs and metric updates and writes them in batches, so a plugin that logs per
 * event costs one sink write per interval, not one per line. Metric updates of one
 * `(config, name)` are pre-aggregated with their operation before writing.
 */
export interface Telemetry {
  log(entry: PendingLogEntry): void
  recordMetric(update: MetricUpdate): void
  countFetch(configId: number): void
  count(configId: number, counter: keyof Omit<ConfigCounters, 'fetches'>, by?: number): void
  counters(configId: number): ConfigCounters
  /** Records `calls` calls of `fn` by a config that took `secondsEach` each. */
  observeCalls(configId: number, fn: CallLatency['fn'], secondsEach: number, calls: number): void
  /** The config's call latencies, one per function it was called with. */
  callLatency(configId: number): CallLatency[]
  /** Writes everything buffered now. */
  flush(): Promise<void>
  /** Flushes and stops the timer. */
  close(): Promise<void>
}

const emptyCounters = (): ConfigCounters => ({
  eventsIn: 0,
  eventsOut: 0,
  eventsDropped: 0,
  eventsFailed: 0,
  fetches: 0,
})

/** Creates the runtime's telemetry buffer. */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { clock, logSink, metricsSink, instanceId } = options
  const interval = options.flushIntervalMs ?? 1000
  const onError = options.onError ?? (() => {})
  let logs: LogEntry[] = []
  let metrics = new Map<string, MetricUpdate>()
  const counters = new Map<number, ConfigCounters>()
  const latencies = new Map<number, Map<CallLatency['fn'], CallLatency>>()
  let timer: TimerHandle | null = null
  let closed = false

  const schedule = () => {
    if (timer || closed) return
    timer = clock.setTimer(interval, () => {
      timer = null
      void flush()
    })
  }

  const flush = async () => {
    const pendingLogs = logs
    const pendingMetrics = [...metrics.values()]
    logs = []
    metrics = new Map()
    const writes: Promise<void>[] = []
    if (pendingLogs.length > 0) writes.push(logSink.append(pendingLogs))
    if (pendingMetrics.length > 0) writes.push(metricsSink.update(pendingMetrics))
    const results = await Promise.allSettled(writes)
    for (const result of results) {
      if (result.status === 'rejected')
        onError(new Error(`telemetry write failed: ${describeError(result.reason)}`))
    }
  }

  const countersOf = (configId: number) => {
    let found = counters.get(configId)
    if (!found) {
      found = emptyCounters()
      counters.set(configId, found)
    }
    return found
  }

  return {
    log(entry) {
      logs.push({ ...entry, timestamp: clock.now(), instanceId })
      schedule()
    },
    recordMetric(update) {
      const key = `${update.configId}\u0000${update.name}`
      const previous = metrics.get(key)
      metrics.set(
        key,
        previous
          ? { ...previous, value: applyMetric(update.operation, previous.value, update.value) }
          : { ...update },
      )
      schedule()
    },
    countFetch(configId) {
      countersOf(configId).fetches += 1
    },
    count(configId, counter, by = 1) {
      countersOf(configId)[counter] += by
    },
    counters: (configId) => ({ ...countersOf(configId) }),
    observeCalls(configId, fn, secondsEach, calls) {
      let byFunction = latencies.get(configId)
      if (!byFunction) {
        byFunction = new Map()
        latencies.set(configId, byFunction)
      }
      let latency = byFunction.get(fn)
      if (!latency) {
        latency = { fn, buckets: CALL_LATENCY_BUCKETS.map(() => 0), count: 0, sumSeconds: 0 }
        byFunction.set(fn, latency)
      }
      for (let index = CALL_LATENCY_BUCKETS.length - 1; index >= 0; index--) {
        if (secondsEach > (CALL_LATENCY_BUCKETS[index] as number)) break
        ;(latency.buckets[index] as number) += calls
      }
      latency.count += calls
      latency.sumSeconds += secondsEach * calls
    },
    callLatency: (configId) =>
      [...(latencies.get(configId)?.values() ?? [])].map((latency) => ({
        ...latency,
        buckets: [...latency.buckets],
      })),
    flush,
    async close() {
      closed = true
      timer?.cancel()
      timer = null
      await flush()
    },
  }
}
