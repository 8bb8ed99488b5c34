// The runtime the sandbox suite runs plugins in: core's own pieces (plugin host, config manager,
// pipeline, job runner, telemetry, capture) over the caller's ports, with recording doubles for
// what the suite inspects (sink, ingestion queue, HTTP) and a manual clock.
import {
  type City,
  type ConfigManager,
  cachePrefix,
  createCapture,
  createCaptureDepth,
  createConfigManager,
  createJobRunner,
  createManualClock,
  createPipeline,
  createTelemetry,
  type Fetch,
  type FetchRequest,
  type FetchResponse,
  type GeoIp,
  type JobRunner,
  type LiveConfig,
  type LogEntry,
  type ManualClock,
  type Pipeline,
  type PluginConfigRecord,
  type ProcessedPluginEvent,
  type QueueRecord,
  type QueueTransport,
  type Sandbox,
  type Sink,
  storageScope,
  type Telemetry,
} from '@sluice/core'
import type { SandboxSuiteServices } from './sandbox.js'

/** Where `posthog.api` requests go in the suite. */
export const POSTHOG_API = {
  host: 'https://posthog.example',
  projectApiKey: 'phc_conformance',
  personalApiKey: 'phx_conformance',
} as const

/** The team plugins are installed for unless a test says otherwise. */
export const TEAM = 1

/** When every test starts: midnight UTC, 1 January 2026. */
export const START_MS = Date.UTC(2026, 0, 1)

const encoder = new TextEncoder()

/** A response of the suite's Fetch double. */
export interface FetchReply {
  status?: number
  statusText?: string
  headers?: Record<string, string>
  body?: string
}

/** How a plugin is installed. */
export interface InstallOptions {
  /** @default 'conformance-plugin' */
  name?: string
  /** @default TEAM */
  teamId?: number
  /** Position in the team's processEvent chain. @default 0 */
  order?: number
  /** The saved config (validated by core against `schema`). */
  config?: Record<string, unknown>
  /** plugin.json `config`. */
  schema?: readonly Record<string, unknown>[]
  attachments?: Record<string, { contentType: string; fileName: string; contents: Uint8Array }>
  /** Other plugin.json members (`main`, …). */
  manifest?: Record<string, unknown>
}

/** One installed plugin config. */
export interface Installed {
  pluginId: number
  configId: number
  teamId: number
  /** `"<name> (<config id>)"`, as in `$plugins_succeeded`. */
  tag: string
  /** The live config; throws when the config did not load (its recorded error is in the message). */
  readonly live: LiveConfig
  /** Calls a plugin function (or `jobs.<name>`) of this config through the sandbox. */
  call(fn: Parameters<LiveConfig['instance']['call']>[0], ...args: unknown[]): Promise<unknown>
  /** The config as the registry holds it now (its `enabled` flag and recorded error). */
  record(): Promise<PluginConfigRecord | null>
  /** A key of this plugin's `meta.cache` for this config's team, read from the Cache port. */
  cached(key: string): Promise<string | null>
  /** A `meta.storage` key of this config, read from the Storage port (parsed JSON). */
  stored(key: string): Promise<unknown>
  /** This config's log entries so far, oldest first. */
  logs(): Promise<LogEntry[]>
  /** This config's metrics as the MetricsSink holds them. */
  metrics(): Promise<Record<string, number>>
}

/** A runtime for one test. */
export interface SandboxStack {
  readonly clock: ManualClock
  readonly sandbox: Sandbox
  readonly services: SandboxSuiteServices
  readonly telemetry: Telemetry
  readonly configs: ConfigManager
  readonly pipeline: Pipeline
  readonly jobs: JobRunner
  /** What the pipeline wrote to its sink, in order. */
  readonly delivered: ProcessedPluginEvent[]
  /** What `posthog.capture` produced to the ingestion queue. */
  readonly captured: QueueRecord[]
  /** Requests that reached the Fetch double (plugin fetch, posthog.api, webhooks). */
  readonly requests: FetchRequest[]
  /** Sets how the Fetch double answers; an Error rejects the request. */
  respond(handler: (request: FetchRequest) => FetchReply | Error): void
  /** Installs plugin files (plugin.json is added) and loads the config (setupPlugin included). */
  install(files: Record<string, string>, options?: InstallOptions): Promise<Installed>
  /** Adds and loads another config of an installed plugin. */
  addConfig(pluginId: number, options?: InstallOptions): Promise<Installed>
  /** Feeds events to the pipeline as one consumed batch. */
  run(events: readonly unknown[]): Promise<void>
  /** Runs one round of due jobs (plugin jobs, retries, exports, webhooks). */
  runJobs(): Promise<number>
  /** Moves the manual clock forward. */
  advance(ms: number): Promise<void>
  close(): Promise<void>
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

function recordingQueue(records: QueueRecord[]): QueueTransport {
  return {
    capabilities: { orderedByKey: true, redelivers: false, sharedConsumption: false, durable: false },
    async produce(_topic, list) {
      records.push(...list)
    },
    async consume() {
      return { stop: async () => {} }
    },
    async close() {},
  }
}

/** Composes core's runtime pieces over the caller's services and the sandbox under test. */
export async function openStack(
  sandbox: Sandbox,
  services: SandboxSuiteServices,
  clock: ManualClock = createManualClock(START_MS),
  options: { geoip?: GeoIp } = {},
): Promise<SandboxStack> {
  const { cache, storage, jobQueue, registry, logSink, metricsSink, deadLetters } = services
  const delivered: ProcessedPluginEvent[] = []
  const captured: QueueRecord[] = []
  const requests: FetchRequest[] = []
  let handler: (request: FetchRequest) => FetchReply | Error = () => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
  const fetch: Fetch = {
    async request(request) {
      requests.push(request)
      const reply = handler(request)
      if (reply instanceof Error) throw reply
      const response: FetchResponse = {
        status: reply.status ?? 200,
        statusText: reply.statusText ?? 'OK',
        headers: Object.fromEntries(
          Object.entries(reply.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
        ),
        body: encoder.encode(reply.body ?? ''),
      }
      return response
    },
  }
  const sink: Sink = {
    name: 'conformance',
    async write(events) {
      delivered.push(...structuredClone(events))
    },
    async close() {},
  }
  const telemetry = createTelemetry({
    clock,
    logSink,
    metricsSink,
    instanceId: 'conformance',
    flushIntervalMs: 60_000,
  })
  const captureDepth = createCaptureDepth()
  let uuids = 0
  const capture = createCapture({
    clock,
    queue: recordingQueue(captured),
    ingestionTopic: 'conformance_events',
    deadLetters,
    telemetry,
    depth: captureDepth,
    newUuid: () => `captured-${++uuids}`,
  })
  const configs = createConfigManager({
    clock,
    registry,
    sandbox,
    jobQueue,
    telemetry,
    hostServices: {
      clock,
      cache,
      storage,
      jobQueue,
      telemetry,
      capture,
      fetch,
      posthogApi: POSTHOG_API,
      ...(options.geoip ? { geoip: options.geoip } : {}),
    },
  })
  const pipeline = createPipeline({
    clock,
    configs,
    sinks: [sink],
    deadLetters,
    jobQueue,
    telemetry,
    captureDepth,
  })
  const jobs = createJobRunner({
    clock,
    jobQueue,
    configs,
    deadLetters,
    telemetry,
    fetch,
    owner: 'conformance',
  })

  const installed = (pluginId: number, pluginName: string, record: PluginConfigRecord): Installed => ({
    pluginId,
    configId: record.id,
    teamId: record.teamId,
    tag: `${pluginName} (${record.id})`,
    get live() {
      const live = configs.get(record.id)
      if (!live) throw new Error(`config ${record.id} of '${pluginName}' is not loaded`)
      return live
    },
    call(fn, ...args) {
      return this.live.instance.call(fn, args)
    },
    record: () => registry.getConfig(record.id),
    cached: (key) => cache.get(`${cachePrefix(pluginId, record.teamId)}${key}`),
    async stored(key) {
      const text = await storage.get(storageScope(record.id), key)
      return text === null ? undefined : JSON.parse(text)
    },
    async logs() {
      await telemetry.flush()
      return (await logSink.query({ configId: record.id, limit: 1000 })).reverse()
    },
    async metrics() {
      await telemetry.flush()
      return metricsSink.read(record.id)
    },
  })

  const names = new Map<number, string>()

  const addConfig = async (pluginId: number, options: InstallOptions = {}) => {
    const name = names.get(pluginId)
    if (name === undefined) throw new Error(`plugin ${pluginId} was not installed by this stack`)
    let record = await registry.createConfig({
      pluginId,
      teamId: options.teamId ?? TEAM,
      enabled: true,
      order: options.order ?? 0,
      config: options.config ?? {},
    })
    for (const [key, attachment] of Object.entries(options.attachments ?? {})) {
      await registry.putAttachment({ configId: record.id, key, ...attachment })
    }
    await configs.reconcile()
    record = (await registry.getConfig(record.id)) ?? record
    return installed(pluginId, name, record)
  }

  return {
    clock,
    sandbox,
    services,
    telemetry,
    configs,
    pipeline,
    jobs,
    delivered,
    captured,
    requests,
    respond(next) {
      handler = next
    },
    async install(files, options = {}) {
      const name = options.name ?? 'conformance-plugin'
      const manifest = { name, ...(options.schema ? { config: options.schema } : {}), ...options.manifest }
      const plugin = await registry.createPlugin({
        name,
        version: 'v1',
        files: { 'plugin.json': JSON.stringify(manifest), ...files },
      })
      names.set(plugin.id, name)
      return addConfig(plugin.id, options)
    },
    addConfig,
    async run(events) {
      let offset = 0
      await pipeline.handleBatch(
        events.map((event) => ({
          id: String(offset++),
          key: null,
          value: JSON.stringify(event),
          deliveryAttempt: 1,
          publishedAt: clock.now(),
        })),
      )
    },
    runJobs: () => jobs.runDue(),
    async advance(ms) {
      clock.advance(ms)
      await settle()
    },
    async close() {
      await configs.close()
      await telemetry.close()
      await sandbox.close()
      await services.close?.()
    },
  }
}

/** A GeoIp double: one known address. */
export const KNOWN_IP = '81.2.69.142'

/** The City record the GeoIp double returns for {@link KNOWN_IP}. */
export const KNOWN_CITY: City = {
  city: { geoname_id: 2643743, names: { en: 'London' } },
  continent: { code: 'EU', geoname_id: 6255148, names: { en: 'Europe' } },
  country: { geoname_id: 2635167, iso_code: 'GB', names: { en: 'United Kingdom' } },
  location: { accuracy_radius: 10, latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' },
  postal: { code: 'EC2V' },
  subdivisions: [{ geoname_id: 6269131, iso_code: 'ENG', names: { en: 'England' } }],
}

/** Answers {@link KNOWN_IP} with {@link KNOWN_CITY}, anything else with null. */
export const geoipDouble: GeoIp = {
  async locate(ip) {
    return ip === KNOWN_IP ? structuredClone(KNOWN_CITY) : null
  },
}
