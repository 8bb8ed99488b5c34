export {
  type City,
  type Clock,
  createManualClock,
  type Fetch,
  type FetchRequest,
  type FetchResponse,
  type GeoIp,
  type ManualClock,
  PluginCallError,
  type PluginEvent,
  type PluginFailure,
  type PostHogEvent,
  type ProcessedPluginEvent,
  type Webhook,
} from '@sluice/core'
export { createEventFactory, type EventDefaults, type TestEvent } from './events.js'
export { createFetchDouble, type FetchDouble, type FetchHandler, type TestResponse } from './fetch-double.js'
export {
  type LoadablePlugin,
  type PluginFiles,
  type PluginSourceOptions,
  readPluginFolder,
  toPluginSource,
} from './plugin-folder.js'
export {
  type CapturedEvent,
  createPluginTester,
  type JobRun,
  type PendingJob,
  type PluginTester,
  type PluginTesterOptions,
  type PluginTesterSettings,
  type TestAttachment,
  type TestLogEntry,
} from './plugin-tester.js'
