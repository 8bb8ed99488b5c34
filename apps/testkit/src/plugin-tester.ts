import {
  type CallOutcome,
  type Clock,
  type ConfigManager,
  configTag,
  createJobRunner,
  createManualClock,
  createPluginHost,
  createTelemetry,
  exportBufferSettings,
  type Fetch,
  type GeoIp,
  GeoIpError,
  type HostAttachment,
  type Job,
  type JobQueue,
  type LiveConfig,
  type LoadedPlugin,
  type LogLevel,
  type ManualClock,
  type PluginCacheApi,
  PluginCallError,
  type PluginCapabilities,
  type PluginEvent,
  type PluginFailure,
  type PluginFunctionName,
  type PluginInstance,
  type PluginManifest,
  type PluginStorageApi,
  type PostHogApiSettings,
  type Sandbox,
  SluiceError,
  TEAM_ID_CHANGED,
  toProcessedEvent,
  ValidationError,
  validatePluginConfig,
  type Webhook,
} from '@sluice/core'
import {
  createMemoryCache,
  createMemoryDeadLetterStore,
  createMemoryJobQueue,
  createMemoryLogSink,
  createMemoryMetricsSink,
  createMemoryStorage,
} from '@sluice/memory'
import { createIsolatedVmSandbox, type IsolatedVmSandboxOptions } from '@sluice/sandbox-isolated-vm'
import { createEventFactory, type TestEvent } from './events.js'
import { noFetch } from './fetch-double.js'
import { type PluginFiles, readPluginFolder, toPluginSource } from './plugin-folder.js'

/** An attachment (`meta.attachments[key]`) as a test gives it. */
export interface TestAttachment {
  /** Text (stored as UTF-8) or bytes; the plugin sees a `Buffer`. */
  contents: string | Uint8Array
  /** @default the attachment's key */
  file_name?: string
  /** @default 'text/plain' for text, 'application/octet-stream' for bytes */
  content_type?: string
}

/** Options shared by both ways of naming the plugin. */
export interface PluginTesterSettings {
  /**
   * The plugin config as an operator would save it. It is validated against plugin.json's
   * `config` schema with core's `validatePluginConfig` (defaults applied, `json` fields parsed);
   * an invalid config fails `createPluginTester` listing every problem.
   * @default {}
   */
  config?: Record<string, unknown>
  /** `meta.attachments`, by config key. */
  attachments?: Record<string, TestAttachment>
  /**
   * Where the plugin's `fetch` and `posthog.api` requests go: core's Fetch port. Use
   * `createFetchDouble` for a recorded, scripted one.
   * @default every request fails with a message saying to pass `fetch`
   */
  fetch?: Fetch
  /**
   * `meta.geoip`: core's GeoIp port, `{ locate(ip): Promise<City | null> }` (MaxMind City shape).
   * @default every lookup fails with a message saying to pass `geoip`
   */
  geoip?: GeoIp
  /**
   * The time core reads: event `now`, job due times, cache TTLs. With the default manual clock,
   * time moves only through `advanceTime`. Plugin code's own `Date.now()` is the real time.
   * @default createManualClock(Date.now())
   */
  clock?: Clock
  /**
   * The team of the plugin config (`team_id` of test events, the cache namespace).
   * @default 1
   */
  teamId?: number
  /**
   * Run `setupPlugin` while creating the tester (a failure then fails `createPluginTester`).
   * Pass `false` to call `setup()` yourself.
   * @default true
   */
  setup?: boolean
  /** Where `posthog.api.*` requests go when the plugin names no host. */
  posthogApi?: PostHogApiSettings
  /** Limits of the isolated-vm sandbox (call timeout, memory). */
  sandbox?: IsolatedVmSandboxOptions
}

/** Options of {@link createPluginTester}: the plugin as a folder or as files, plus settings. */
export type PluginTesterOptions = PluginTesterSettings &
  (
    | {
        /**
         * The plugin folder: a path (relative to the working directory) or a `file:` URL such
         * as `new URL('..', import.meta.url)`. Read with `readPluginFolder`.
         */
        path: string | URL
        files?: undefined
      }
    | {
        /** The plugin's files by POSIX path, `plugin.json` included. */
        files: PluginFiles
        path?: undefined
      }
  )

/** A line the plugin logged (`console.*`) or Sluice recorded about it. */
export interface TestLogEntry {
  level: LogLevel
  /** `plugin` for the plugin's console, `system` for what Sluice recorded (job failures, …). */
  source: 'plugin' | 'system'
  message: string
  /** Epoch ms, from the tester's clock. */
  timestamp: number
}

/** An event the plugin captured with `posthog.capture`. It is recorded, not processed. */
export interface CapturedEvent {
  event: string
  properties: Record<string, unknown>
}

/** A job the plugin enqueued with `meta.jobs.<name>(payload).runNow/runIn/runAt` that has not run yet. */
export interface PendingJob {
  name: string
  payload: unknown
  /** When it is due. */
  runAt: Date
  /** Failed runs so far (a `RetryError` reschedules the job). */
  attempt: number
}

/** One job run by {@link PluginTester.runDueJobs}. */
export interface JobRun {
  name: string
  payload: unknown
  /** Failed runs before this one. */
  attempt: number
  /** The plugin's error, when the run failed. */
  error?: PluginCallError
  /**
   * When the job runs again: set when it failed with a `RetryError` and the server's retry
   * policy (5, 10, 20, 40, 80 s) has tries left.
   */
  retryAt?: Date
}

/**
 * A plugin loaded in the real isolated-vm sandbox over in-memory ports, as one plugin config of
 * one team. Every method calls the plugin function directly and throws a `PluginCallError`
 * (`.failure` holds the plugin's error name, message and stack, and whether it asked for a retry)
 * when the plugin throws or hits a limit.
 */
export interface PluginTester {
  /** The parsed plugin.json. */
  readonly manifest: PluginManifest
  /** What the plugin exports: functions, jobs, metrics. */
  readonly capabilities: PluginCapabilities
  /** `meta.config` as the plugin sees it: validated, defaults applied, `json` fields parsed. */
  readonly config: Readonly<Record<string, unknown>>
  /** The clock core reads (a `ManualClock` unless you passed another). */
  readonly clock: Clock
  /** Runs `setupPlugin`, if the plugin has one. */
  setup(): Promise<void>
  /** Runs `teardownPlugin`, if the plugin has one. */
  teardown(): Promise<void>
  /**
   * Fills the event's defaults (see `TestEvent`) the way every method here does, so a test can
   * compare what the plugin returned with what it was given.
   */
  event(input: TestEvent): PluginEvent
  /**
   * Runs `processEvent` (or `processEventBatch` with `[event]` when only that exists).
   * @returns the returned event, or `null` when the plugin dropped it.
   * @throws {PluginCallError} when the plugin throws, returns a non-event or changes `team_id`.
   */
  processEvent(event: TestEvent): Promise<PluginEvent | null>
  /**
   * Runs `processEvent` on each event in one sandbox crossing, as the server does for a batch:
   * events of one `distinct_id` in order, different ones concurrently.
   * @throws {PluginCallError} for the first event that failed.
   */
  processEvents(events: readonly TestEvent[]): Promise<(PluginEvent | null)[]>
  /** Runs `onEvent` with the processed (read-only) form of the event. */
  onEvent(event: TestEvent): Promise<void>
  /** Runs `onSnapshot` with the processed form of the event. */
  onSnapshot(event: TestEvent): Promise<void>
  /**
   * Runs `exportEvents` once with exactly these events (processed form). The server's buffering
   * and `exportEventsToIgnore` are not applied here.
   */
  exportEvents(events: readonly TestEvent[]): Promise<void>
  /** Runs `composeWebhook`; the plugin receives `timestamp` as a `Date`. */
  composeWebhook(event: TestEvent): Promise<Webhook | null>
  runEveryMinute(): Promise<void>
  runEveryHour(): Promise<void>
  runEveryDay(): Promise<void>
  /** Runs `jobs.<name>(payload)` now, whether or not it was enqueued. */
  runJob(name: string, payload?: unknown): Promise<void>
  /**
   * Runs every enqueued job that is due by the clock, one at a time in due order, through core's
   * job runner: a `RetryError` reschedules the job as on the server, other errors are logged.
   * Jobs a job enqueues for now run too. Never throws for a failing job: see each run's `error`.
   */
  runDueJobs(): Promise<JobRun[]>
  /** Jobs enqueued and not run yet, earliest first. */
  readonly pendingJobs: readonly PendingJob[]
  /** Moves the default manual clock forward (cache TTLs expire, jobs fall due). */
  advanceTime(ms: number): void
  /** Log lines so far, oldest first. */
  readonly logs: readonly TestLogEntry[]
  /** Values of the plugin's `export const metrics`, by name, as recorded so far. */
  readonly metrics: Readonly<Record<string, number>>
  /** `posthog.capture` calls so far. */
  readonly captured: readonly CapturedEvent[]
  /** `meta.cache` of this plugin and team, to seed or inspect. */
  readonly cache: PluginCacheApi
  /** `meta.storage` of this config, to seed or inspect. */
  readonly storage: PluginStorageApi
  /**
   * Runs `teardownPlugin` if setup ran and teardown has not, then releases the sandbox. Throws
   * teardown's error after releasing everything. Safe to call twice.
   */
  close(): Promise<void>
}

const PLUGIN_ID = 1
const CONFIG_ID = 1
/** Bounds runDueJobs when jobs keep enqueueing jobs that are due at once. */
const MAX_JOB_RUNS = 1000

const testkitError = (message: string, code: string) =>
  new SluiceError(message, { component: 'testkit', code: `testkit.${code}`, retryable: false })

const noGeoIp: GeoIp = {
  locate: () =>
    Promise.reject(
      new GeoIpError('no GeoIP database in this test — pass `geoip` to createPluginTester', {
        retryable: false,
        code: 'geoip.not-configured',
      }),
    ),
}

const isManualClock = (clock: Clock): clock is ManualClock =>
  typeof (clock as Partial<ManualClock>).advance === 'function'

function toHostAttachments(attachments: Record<string, TestAttachment>): Record<string, HostAttachment> {
  const encoder = new TextEncoder()
  const out: Record<string, HostAttachment> = {}
  for (const [key, attachment] of Object.entries(attachments)) {
    const text = typeof attachment.contents === 'string'
    out[key] = {
      file_name: attachment.file_name ?? key,
      content_type: attachment.content_type ?? (text ? 'text/plain' : 'application/octet-stream'),
      contents: text ? encoder.encode(attachment.contents as string) : (attachment.contents as Uint8Array),
    }
  }
  return out
}

/** The job queue port, recording what is pending and how each claimed job was settled. */
function createJobTracker(queue: JobQueue) {
  const pending = new Map<string, Job>()
  let lastClaimed: Job | undefined
  let lastRetryAt: number | undefined
  const tracked: JobQueue = {
    capabilities: queue.capabilities,
    async enqueue(jobs) {
      const ids = await queue.enqueue(jobs)
      ids.forEach((id, index) => {
        const job = jobs[index]
        if (job) pending.set(id, { ...job, id, attempt: job.attempt ?? 0 })
      })
      return ids
    },
    async claim(options) {
      const jobs = await queue.claim(options)
      lastClaimed = jobs[0]
      lastRetryAt = undefined
      return jobs
    },
    async complete(id, owner) {
      const done = await queue.complete(id, owner)
      if (done) pending.delete(id)
      return done
    },
    async reschedule(id, owner, runAt, attempt) {
      const done = await queue.reschedule(id, owner, runAt, attempt)
      const job = pending.get(id)
      if (done && job) {
        pending.set(id, { ...job, runAt, attempt })
        lastRetryAt = runAt
      }
      return done
    },
    count: () => queue.count(),
  }
  return {
    queue: tracked,
    pending: () => [...pending.values()].sort((a, b) => a.runAt - b.runAt || Number(a.id) - Number(b.id)),
    /** The job the last claim handed out (the runner claims one at a time) and its retry time. */
    lastRound: () => ({ job: lastClaimed, retryAt: lastRetryAt }),
  }
}

/**
 * Loads a plugin into the real isolated-vm sandbox on the in-memory stack and returns a
 * {@link PluginTester} for one config of it. Runs `setupPlugin` unless `setup: false`.
 *
 * @throws {ValidationError} for an invalid plugin.json, config (every problem, by key) or plugin
 *   source (a forbidden import or syntax error, naming file and line).
 * @throws {PluginCallError} when `setupPlugin` fails.
 * @example
 * const plugin = await createPluginTester({
 *   path: new URL('..', import.meta.url),
 *   config: { propertiesToRemove: 'email' },
 * })
 * const event = await plugin.processEvent({ event: 'signed up', properties: { email: 'a@b.c' } })
 * await plugin.close()
 */
export async function createPluginTester(options: PluginTesterOptions): Promise<PluginTester> {
  const files = options.files ?? (await readPluginFolder(options.path))
  const { manifest, source } = toPluginSource(files, { pluginId: PLUGIN_ID })
  const attachments = toHostAttachments(options.attachments ?? {})
  const validation = validatePluginConfig(manifest.config, options.config ?? {}, {
    attachmentKeys: Object.keys(attachments),
  })
  if (!validation.ok) {
    throw new ValidationError('config', `config of plugin '${manifest.name}' is invalid`, validation.problems)
  }
  const config = validation.config
  const teamId = options.teamId ?? 1

  const clock = options.clock ?? createManualClock(Date.now())
  const logSink = createMemoryLogSink()
  const metricsSink = createMemoryMetricsSink()
  const telemetry = createTelemetry({ clock, logSink, metricsSink, instanceId: 'testkit' })
  const cache = createMemoryCache({ clock })
  const storage = createMemoryStorage()
  const jobs = createJobTracker(createMemoryJobQueue())
  const captured: CapturedEvent[] = []

  const sandbox: Sandbox = createIsolatedVmSandbox(options.sandbox)
  let loaded: LoadedPlugin
  try {
    loaded = await sandbox.load(source)
  } catch (error) {
    await sandbox.close()
    throw error
  }
  const { capabilities } = loaded
  const host = createPluginHost(
    {
      clock,
      cache,
      storage,
      jobQueue: jobs.queue,
      telemetry,
      fetch: options.fetch ?? noFetch,
      geoip: options.geoip ?? noGeoIp,
      ...(options.posthogApi ? { posthogApi: options.posthogApi } : {}),
      capture: async (_origin, event, properties) => {
        captured.push({ event, properties })
      },
    },
    {
      pluginId: PLUGIN_ID,
      pluginName: manifest.name,
      configId: CONFIG_ID,
      teamId,
      config,
      attachments,
      jobNames: capabilities.jobs,
      metrics: capabilities.metrics,
    },
  )
  let instance: PluginInstance
  try {
    instance = await loaded.instantiate(host)
  } catch (error) {
    await loaded.dispose()
    await sandbox.close()
    throw error
  }

  let logs: TestLogEntry[] = []
  let metrics: Record<string, number> = {}
  /** Writes buffered logs and metrics, then refreshes what `logs` and `metrics` show. */
  const refresh = async () => {
    await telemetry.flush()
    const entries = await logSink.query({ configId: CONFIG_ID, limit: Number.MAX_SAFE_INTEGER })
    logs = entries
      .reverse()
      .map(({ level, source, message, timestamp }) => ({ level, source, message, timestamp }))
    metrics = await metricsSink.read(CONFIG_ID)
  }
  const settle = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work
    } finally {
      await refresh()
    }
  }

  const functions = new Set(capabilities.functions)
  const exported = () => capabilities.functions.join(', ') || 'no plugin functions'
  const need = (fn: PluginFunctionName) => {
    if (!functions.has(fn)) {
      throw testkitError(
        `plugin '${manifest.name}' does not export ${fn} (it exports ${exported()})`,
        'not-exported',
      )
    }
  }
  const call = (fn: PluginFunctionName | `jobs.${string}`, args: readonly unknown[]) =>
    settle(instance.call(fn, args))

  // Core's job runner looks its config up by id; this one config is all there is.
  let lastJobError: PluginCallError | undefined
  const jobInstance: PluginInstance = {
    async call(fn, args) {
      try {
        return await instance.call(fn, args)
      } catch (error) {
        if (error instanceof PluginCallError) lastJobError = error
        throw error
      }
    },
    callEach: (fn, calls) => instance.callEach(fn, calls),
    callEachJson: (fn, calls) => instance.callEachJson(fn, calls),
    dispose: () => instance.dispose(),
  }
  const live: LiveConfig = {
    id: CONFIG_ID,
    pluginId: PLUGIN_ID,
    pluginName: manifest.name,
    teamId,
    order: 0,
    revision: 1,
    pluginVersion: source.version,
    tag: configTag(manifest.name, CONFIG_ID),
    capabilities,
    instance: jobInstance,
    exportSettings: exportBufferSettings(config),
    has: (fn) => functions.has(fn),
    status: 'ready',
  }
  const configs: ConfigManager = {
    reconcile: async () => {},
    chain: () => [live],
    teamConfigs: () => [live],
    get: (configId) => (configId === CONFIG_ID ? live : undefined),
    all: () => [live],
    retrySetup: async () => {},
    close: async () => {},
  }
  const runner = createJobRunner({
    clock,
    jobQueue: jobs.queue,
    configs,
    deadLetters: createMemoryDeadLetterStore({ clock }),
    telemetry,
    owner: 'testkit',
    batchSize: 1,
  })

  const makeEvent = createEventFactory({ teamId, now: () => clock.now() })
  const processed = (input: TestEvent) => toProcessedEvent(makeEvent(input))

  const transformResult = (
    fn: 'processEvent' | 'processEventBatch',
    before: PluginEvent,
    outcome: CallOutcome,
  ): PluginEvent | null => {
    if (!outcome.ok) throw new PluginCallError(fn, outcome.failure)
    const value =
      fn === 'processEventBatch' && Array.isArray(outcome.value) ? outcome.value[0] : outcome.value
    if (value === null || value === undefined) return null
    const fail = (message: string): never => {
      const failure: PluginFailure = { name: 'Error', message, retry: false, timeout: false }
      throw new PluginCallError(fn, failure)
    }
    if (typeof value !== 'object') return fail('returned something that is not an event')
    if ((value as PluginEvent).team_id !== before.team_id) return fail(TEAM_ID_CHANGED)
    return value as PluginEvent
  }

  let needsTeardown = false
  let closed = false

  const tester: PluginTester = {
    manifest,
    capabilities,
    config,
    clock,
    async setup() {
      if (!functions.has('setupPlugin')) return
      await call('setupPlugin', [])
      needsTeardown = true
    },
    async teardown() {
      needsTeardown = false
      if (functions.has('teardownPlugin')) await call('teardownPlugin', [])
    },
    event: makeEvent,
    async processEvent(event) {
      const [result] = await tester.processEvents([event])
      return result ?? null
    },
    async processEvents(inputs) {
      const fn = functions.has('processEvent')
        ? 'processEvent'
        : functions.has('processEventBatch')
          ? 'processEventBatch'
          : null
      if (fn === null) {
        throw testkitError(
          `plugin '${manifest.name}' exports neither processEvent nor processEventBatch (it exports ${exported()})`,
          'not-exported',
        )
      }
      const events = inputs.map(makeEvent)
      const outcomes = await settle(
        instance.callEach(
          fn,
          events.map((event) => ({
            lane: `${event.team_id}:${event.distinct_id}`,
            args: fn === 'processEvent' ? [event] : [[event]],
          })),
        ),
      )
      return outcomes.map((outcome, index) => transformResult(fn, events[index] as PluginEvent, outcome))
    },
    async onEvent(event) {
      need('onEvent')
      await call('onEvent', [processed(event)])
    },
    async onSnapshot(event) {
      need('onSnapshot')
      await call('onSnapshot', [processed(event)])
    },
    async exportEvents(events) {
      need('exportEvents')
      await call('exportEvents', [events.map(processed)])
    },
    async composeWebhook(event) {
      need('composeWebhook')
      const hook = await call('composeWebhook', [processed(event)])
      return (hook ?? null) as Webhook | null
    },
    async runEveryMinute() {
      need('runEveryMinute')
      await call('runEveryMinute', [])
    },
    async runEveryHour() {
      need('runEveryHour')
      await call('runEveryHour', [])
    },
    async runEveryDay() {
      need('runEveryDay')
      await call('runEveryDay', [])
    },
    async runJob(name, payload) {
      if (!capabilities.jobs.includes(name)) {
        const known = capabilities.jobs.join(', ') || 'none'
        throw testkitError(
          `plugin '${manifest.name}' has no job '${name}' (its jobs: ${known})`,
          'not-exported',
        )
      }
      await call(`jobs.${name}`, [payload ?? null])
    },
    async runDueJobs() {
      const runs: JobRun[] = []
      try {
        for (let round = 0; ; round++) {
          if (round === MAX_JOB_RUNS) {
            throw testkitError(
              `runDueJobs ran ${MAX_JOB_RUNS} jobs and more kept coming due — does a job enqueue itself with runNow()?`,
              'runaway-jobs',
            )
          }
          lastJobError = undefined
          if ((await runner.runDue()) === 0) return runs
          const { job, retryAt } = jobs.lastRound()
          if (!job) continue
          runs.push({
            name: job.name,
            payload: JSON.parse(job.payload),
            attempt: job.attempt,
            ...(lastJobError ? { error: lastJobError } : {}),
            ...(retryAt === undefined ? {} : { retryAt: new Date(retryAt) }),
          })
        }
      } finally {
        await refresh()
      }
    },
    get pendingJobs() {
      return jobs
        .pending()
        .filter((job) => job.kind === 'plugin-job')
        .map((job) => ({
          name: job.name,
          payload: JSON.parse(job.payload),
          runAt: new Date(job.runAt),
          attempt: job.attempt,
        }))
    },
    advanceTime(ms) {
      if (!isManualClock(clock)) {
        throw testkitError(
          'advanceTime needs the default manual clock; move the clock you passed yourself',
          'clock',
        )
      }
      clock.advance(ms)
    },
    get logs() {
      return logs
    },
    get metrics() {
      return metrics
    },
    captured,
    cache: host.cache,
    storage: host.storage,
    async close() {
      if (closed) return
      closed = true
      let failure: unknown
      if (needsTeardown) {
        try {
          await tester.teardown()
        } catch (error) {
          failure = error
        }
      }
      await instance.dispose()
      await loaded.dispose()
      await sandbox.close()
      await telemetry.close()
      if (failure !== undefined) throw failure
    },
  }

  if (options.setup !== false) {
    try {
      await tester.setup()
    } catch (error) {
      await tester.close()
      throw error
    }
  }
  return tester
}
