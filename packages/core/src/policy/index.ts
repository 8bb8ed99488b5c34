/** Health budgets, retry policies, job times and schedules, plugin metrics, the exportEvents buffer and per-key lanes: data and pure functions. */
export type {
  ExportBufferOptions,
  ExportBufferSettings,
} from './export-buffer.js'
export {
  EXPORT_BUFFER_DEFAULT_BYTES,
  EXPORT_BUFFER_DEFAULT_SECONDS,
  EXPORT_BUFFER_MAX_BYTES,
  EXPORT_BUFFER_MAX_SECONDS,
  EXPORT_BUFFER_MIN_SECONDS,
  ExportBuffer,
  exportBufferSettings,
  LARGE_BATCHES_FACTOR,
} from './export-buffer.js'
export type {
  ConfigHealth,
  HealthMinute,
  HealthPolicy,
  HealthSample,
  HealthStatus,
  HealthTransition,
  HealthUpdate,
} from './health.js'
export {
  advanceHealth,
  DEFAULT_HEALTH_POLICY,
  initialHealth,
  pauseHealth,
  recentCounts,
  recordHealth,
} from './health.js'
export { chunkLanes, groupIntoLanes, longestLane, runLanes } from './keyed-lanes.js'
export type { ExportMetricName, MetricMethod, MetricsDeclaration } from './metrics.js'
export {
  applyMetric,
  checkMetricUpdate,
  EXPORT_METRIC_OPERATIONS,
  EXPORT_METRICS,
  parseMetricsDeclaration,
  withExportMetrics,
} from './metrics.js'
export type {
  RetriedFunction,
  RetryExhausted,
  RetryExhaustedAction,
  RetryPolicy,
  RetryScheduled,
} from './retry.js'
export {
  EXPORT_EVENTS_RETRY_POLICY,
  isRetryableStatus,
  nextRetry,
  ON_EVENT_RETRY_POLICY,
  RETRY_POLICIES,
  SETUP_RETRY_POLICY,
  WEBHOOK_DELIVERY_POLICY,
} from './retry.js'
export type { SchedulePeriod, TimeUnit } from './time-units.js'
export {
  addTime,
  nextScheduledRun,
  normalizeTimeUnit,
  parseRunAt,
  SCHEDULE_PERIODS,
  TIME_UNITS,
} from './time-units.js'
