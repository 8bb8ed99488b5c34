import type { SchedulePeriod } from '../policy/time-units.js'
import type { City } from './geoip.js'
import type { LogLevel } from './log-sink.js'
import type { MetricOperation } from './metrics-sink.js'

/** Functions a plugin may export (SPEC §2). */
export type PluginFunctionName =
  | 'setupPlugin'
  | 'teardownPlugin'
  | 'processEvent'
  | 'processEventBatch'
  | 'onEvent'
  | 'onSnapshot'
  | 'exportEvents'
  | 'composeWebhook'
  | 'runEveryMinute'
  | 'runEveryHour'
  | 'runEveryDay'
  | 'getSettings'

/** Every plugin function name, in a stable order. */
export const PLUGIN_FUNCTION_NAMES: readonly PluginFunctionName[] = [
  'setupPlugin',
  'teardownPlugin',
  'processEvent',
  'processEventBatch',
  'onEvent',
  'onSnapshot',
  'exportEvents',
  'composeWebhook',
  'runEveryMinute',
  'runEveryHour',
  'runEveryDay',
  'getSettings',
]

/** What a loaded plugin provides, detected without running `setupPlugin`. */
export interface PluginCapabilities {
  /** Exported plugin functions. */
  functions: readonly PluginFunctionName[]
  /** Exported scheduled functions (a subset of `functions`). */
  schedules: readonly SchedulePeriod[]
  /** Names of `export const jobs = { … }`. */
  jobs: readonly string[]
  /** `export const metrics = { … }`, operations lower-cased. */
  metrics: Readonly<Record<string, MetricOperation>>
}

/** The plugin source a sandbox loads. */
export interface PluginSource {
  pluginId: number
  name: string
  /** Identifies the source: a sandbox may cache its compiled form by `(pluginId, version)`. */
  version: string
  /** Path (POSIX, relative to the plugin root) → text. */
  files: Readonly<Record<string, string>>
  /** The entry file, resolved by core from plugin.json. */
  entry: string
}

/** An attachment as the host holds it; the sandbox wraps `contents` in the plugin-side buffer type. */
export interface HostAttachment {
  content_type: string
  file_name: string
  contents: Uint8Array
}

/** When a plugin job should run. */
export type JobTiming =
  | { kind: 'now' }
  | { kind: 'in'; amount: number; unit: string }
  | { kind: 'at'; date: string | number }

/** `jsonSerialize` option of `meta.cache.get/set`. */
export interface CacheSerializeOptions {
  /** @default true */
  jsonSerialize?: boolean
}

/** The `meta.cache` contract (SPEC §3), already namespaced per plugin and team. */
export interface PluginCacheApi {
  set(key: string, value: unknown, ttlSeconds?: number, options?: CacheSerializeOptions): Promise<void>
  get(key: string, defaultValue: unknown, options?: CacheSerializeOptions): Promise<unknown>
  incr(key: string): Promise<number>
  expire(key: string, ttlSeconds: number): Promise<boolean>
  lpush(key: string, elementOrArray: unknown): Promise<number>
  lrange(key: string, startIndex: number, endIndex: number): Promise<string[]>
  llen(key: string): Promise<number>
  lpop(key: string, count: number): Promise<string[]>
  lrem(key: string, count: number, elementKey: string): Promise<number>
}

/** The `meta.storage` contract (SPEC §3). */
export interface PluginStorageApi {
  get(key: string, defaultValue: unknown): Promise<unknown>
  set(key: string, value: unknown): Promise<void>
  del(key: string): Promise<void>
}

/** The `meta.utils.cursor` contract (SPEC §3). */
export interface PluginCursorApi {
  init(key: string, initialValue?: number): Promise<void>
  increment(key: string, incrementBy?: number): Promise<number>
}

/** A response as plugin `fetch` and `posthog.api` see it before the sandbox wraps it. */
export interface HostResponse {
  status: number
  statusText: string
  headers: Readonly<Record<string, string>>
  /** UTF-8 text of the body. */
  body: string
}

/** Options of `posthog.api.*` (SPEC §3.1). */
export interface PostHogApiOptions {
  data?: Record<string, unknown>
  host?: string
  projectApiKey?: string
  personalApiKey?: string
}

/**
 * Everything a sandboxed plugin config can reach on the host, built by core per loaded config.
 * The sandbox builds the plugin-facing `meta` and globals over it (and only it): plain data in,
 * plain data out, every input validated here.
 */
export interface PluginHost {
  readonly pluginId: number
  readonly pluginName: string
  readonly configId: number
  readonly teamId: number
  /** `meta.config`: defaults applied, `json` fields parsed. */
  readonly config: Readonly<Record<string, unknown>>
  /** `meta.attachments`. */
  readonly attachments: Readonly<Record<string, HostAttachment>>
  readonly cache: PluginCacheApi
  readonly storage: PluginStorageApi
  readonly cursor: PluginCursorApi
  /** Enqueues a plugin job; rejects for an unknown job name or unit. */
  enqueueJob(name: string, payload: unknown, timing: JobTiming): Promise<void>
  /** Applies `meta.metrics[name].increment/max/min(value)`; throws `TypeError` for a wrong operation. */
  updateMetric(name: string, operation: 'increment' | 'max' | 'min', value: unknown): void
  /** `meta.geoip.locate`. */
  locateIp(ip: string): Promise<City | null>
  /** Global `fetch` (SSRF guard, timeout and size cap applied on the host). */
  fetch(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string },
  ): Promise<HostResponse>
  /** `posthog.capture`. */
  capture(event: string, properties?: Record<string, unknown>): Promise<void>
  /** `posthog.api.<method>`. */
  api(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options?: PostHogApiOptions,
  ): Promise<HostResponse>
  /** `console.*`: the message is the arguments joined by spaces, objects as JSON. */
  log(level: LogLevel, message: string): void
}

/** An error thrown by plugin code (or a limit it hit), as plain data from any realm. */
export interface PluginFailure {
  name: string
  message: string
  stack?: string
  /** A `RetryError`, or a timeout. */
  retry: boolean
  /** The call exceeded its wall-time limit. */
  timeout: boolean
}

/** Result of one call within a batch. */
export type CallOutcome = { ok: true; value: unknown } | { ok: false; failure: PluginFailure }

/** One call of a batch: its arguments (without `meta`) and its ordering lane. */
export interface LaneCall {
  /** Calls sharing a lane run one after another in batch order; different lanes may overlap. */
  lane: string
  args: readonly unknown[]
}

/** One call of {@link PluginInstance.callEachJson}: its only argument as JSON text, and its lane. */
export interface JsonLaneCall {
  /** As {@link LaneCall.lane}. */
  lane: string
  /** The argument's JSON text. Must be valid JSON: the sandbox parses it as the plugin's argument. */
  json: string
}

/**
 * Result of one call of {@link PluginInstance.callEachJson}: the JSON text of what the plugin
 * returned (`null` when it returned `undefined`), or why it failed. The text comes from plugin
 * code: parse and check it before trusting it.
 */
export type JsonCallOutcome = { ok: true; json: string | null } | { ok: false; failure: PluginFailure }

/** What a sandbox can do; core and the conformance suite branch on these. */
export interface SandboxCapabilities {
  /** `isolate`: plugin code cannot reach the host. `none`: plugins run in the host realm (tests, baselines). */
  isolation: 'isolate' | 'none'
  /** Calls are bounded in wall time, including synchronous infinite loops. */
  enforcesTimeouts: boolean
  /** Heap use per plugin is bounded. */
  enforcesMemoryLimit: boolean
}

/** A plugin config's live plugin code: its own `meta.global`, bound to its host. */
export interface PluginInstance {
  /**
   * Calls a plugin function (or `jobs.<name>`) with `meta` appended. Rejects with a
   * {@link PluginCallError} when the plugin throws or exceeds a limit.
   */
  call(fn: PluginFunctionName | `jobs.${string}`, args: readonly unknown[]): Promise<unknown>
  /**
   * Calls `fn` once per item, crossing the sandbox boundary once per batch where it can. One
   * failing item never fails the others; outcomes come back in item order.
   */
  callEach(fn: PluginFunctionName, calls: readonly LaneCall[]): Promise<CallOutcome[]>
  /**
   * {@link callEach} for one-argument calls whose argument the host already holds as JSON text
   * (an event off a queue, or a previous plugin's output): the text goes in as it is and results
   * come back as text, so a chain of plugins costs the host no encoding per plugin.
   *
   * A `processEvent` call whose result is an object without the argument's `team_id` fails with
   * `TEAM_ID_CHANGED` (SPEC §2), so the host need not parse every plugin's result to enforce it. The
   * check runs beside plugin code, so a hostile plugin may slip past it: the host checks again
   * where it parses the result anyway.
   */
  callEachJson(fn: PluginFunctionName, calls: readonly JsonLaneCall[]): Promise<JsonCallOutcome[]>
  /** Releases the instance; later calls reject. */
  dispose(): Promise<void>
}

/** A plugin compiled in a sandbox, ready to be instantiated for configs. */
export interface LoadedPlugin {
  readonly capabilities: PluginCapabilities
  /** A fresh instance for one plugin config. Does not run `setupPlugin`. */
  instantiate(host: PluginHost): Promise<PluginInstance>
  dispose(): Promise<void>
}

/** Memory held by the plugin code of one loaded plugin version, for ops. */
export interface PluginMemoryUsage {
  pluginId: number
  /** As in {@link PluginSource}. */
  name: string
  version: string
  /** Sandboxes (isolates) open for this plugin version; its configs share them. */
  sandboxes: number
  /** Heap in use across them, external memory (large ArrayBuffers) included. */
  usedBytes: number
  /** Their heap limits together. */
  limitBytes: number
}

/** Port: runs plugin code. */
export interface Sandbox {
  readonly capabilities: SandboxCapabilities
  /**
   * Memory use per loaded plugin version, for ops; a sandbox without separate heaps (`isolation:
   * 'none'`) reports none. Answers promptly even while plugin code is busy, then with the last reading.
   */
  memoryUsage(): Promise<PluginMemoryUsage[]>
  /**
   * Compiles the plugin and detects its capabilities without running `setupPlugin`. Rejects with
   * a `ValidationError` (a forbidden import, a bad metrics declaration, a syntax error) naming the
   * file and line, or a `SandboxError`.
   */
  load(source: PluginSource): Promise<LoadedPlugin>
  close(): Promise<void>
}

/** A plugin call failed: the plugin threw, or a limit stopped it. */
export class PluginCallError extends Error {
  readonly failure: PluginFailure
  constructor(fn: string, failure: PluginFailure) {
    super(`${fn} failed: ${failure.name}: ${failure.message}`)
    this.name = 'PluginCallError'
    this.failure = failure
  }
}
