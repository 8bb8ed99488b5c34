import { describeError } from '../errors.js'
import { applyMetric } from '../policy/index.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type { LogEntry, LogSink } from '../ports/log-sink.js'
import type { MetricsSink, MetricUpdate } from '../ports/metrics-sink.js'

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
    flush,
    async close() {
      closed = true
      timer?.cancel()
      timer = null
      await flush()
    },
  }
}
