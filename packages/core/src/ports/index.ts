export type { Bus, BusCapabilities, Unsubscribe } from './bus.js'
export type { Cache, CacheCapabilities } from './cache.js'
export type { Clock, TimerHandle } from './clock.js'
export {
  DEAD_LETTER_SOURCES,
  type DeadLetter,
  type DeadLetterQuery,
  type DeadLetterSource,
  type DeadLetterStore,
  isDeadLetterSource,
  type NewDeadLetter,
} from './dead-letter.js'
export type { Fetch, FetchRequest, FetchResponse } from './fetch.js'
export type { City, GeoIp, GeoNames } from './geoip.js'
export type { ClaimOptions, Job, JobQueue, JobQueueCapabilities, NewJob } from './job-queue.js'
export { assertClaimOptions, assertJobAttempt, assertJobTime, assertNewJob } from './job-queue-input.js'
export type { Lock, LockCapabilities } from './lock.js'
export type { LogEntry, LogLevel, LogQuery, LogSink } from './log-sink.js'
export type { MetricOperation, MetricsSink, MetricUpdate } from './metrics-sink.js'
export type {
  BatchHandler,
  ConsumeOptions,
  QueueCapabilities,
  QueueMessage,
  QueueRecord,
  QueueSubscription,
  QueueTransport,
} from './queue.js'
export type {
  AttachmentRecord,
  ConfigFilter,
  NewPlugin,
  NewPluginConfig,
  PluginConfigChanges,
  PluginConfigError,
  PluginConfigRecord,
  PluginRecord,
  Registry,
} from './registry.js'
export {
  type CacheSerializeOptions,
  type CallOutcome,
  type HostAttachment,
  type HostResponse,
  type JobTiming,
  type JsonCallOutcome,
  type JsonLaneCall,
  type LaneCall,
  type LoadedPlugin,
  PLUGIN_FUNCTION_NAMES,
  type PluginCacheApi,
  PluginCallError,
  type PluginCapabilities,
  type PluginCursorApi,
  type PluginFailure,
  type PluginFunctionName,
  type PluginHost,
  type PluginInstance,
  type PluginMemoryUsage,
  type PluginSource,
  type PluginStorageApi,
  type PostHogApiOptions,
  type Sandbox,
  type SandboxCapabilities,
} from './sandbox.js'
export type { Sink } from './sink.js'
export type { Storage, StorageCapabilities } from './storage.js'
