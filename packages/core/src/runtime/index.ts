export {
  CAPTURE_DEPTH,
  type CaptureDepth,
  createCapture,
  createCaptureDepth,
  MAX_CAPTURE_DEPTH,
} from './capture.js'
export {
  type ConfigManager,
  type ConfigManagerOptions,
  configTag,
  createConfigManager,
  type LiveConfig,
  type LiveConfigStatus,
} from './config-manager.js'
export {
  createDeadLetterReplay,
  type DeadLetterReplay,
  type DeadLetterReplayOptions,
  jobDeadLetterPayload,
  type ReplayOutcome,
  type ReplayResult,
} from './dead-letter-replay.js'
export { type DecodedEvent, decodeEvent } from './decode-event.js'
export {
  createHealthWatcher,
  type HealthState,
  type HealthWatcher,
  type HealthWatcherOptions,
  type WatchedConfig,
} from './health-watcher.js'
export { createJobRunner, type JobRunner, type JobRunnerOptions } from './job-runner.js'
export {
  createPipeline,
  type Pipeline,
  type PipelineOptions,
  PLUGINS_DEFERRED,
  PLUGINS_FAILED,
  PLUGINS_SUCCEEDED,
  TEAM_ID_CHANGED,
} from './pipeline.js'
export {
  type CaptureOrigin,
  cachePrefix,
  createPluginHost,
  cursorScope,
  MAX_LPUSH_ELEMENTS,
  MAX_PAYLOAD_BYTES,
  oversizedPayloadBytes,
  type PluginHostContext,
  type PluginHostServices,
  type PostHogApiSettings,
  storageScope,
  utf8Length,
} from './plugin-host.js'
export {
  CONFIG_CHANGED_CHANNEL,
  createSluiceRuntime,
  type SluiceRuntime,
  type SluiceRuntimeOptions,
} from './runtime.js'
export { createScheduler, SCHEDULER_LOCK, type Scheduler, type SchedulerOptions } from './scheduler.js'
export {
  CALL_LATENCY_BUCKETS,
  type CallLatency,
  type ConfigCounters,
  createTelemetry,
  type PendingLogEntry,
  type Telemetry,
  type TelemetryOptions,
} from './telemetry.js'
