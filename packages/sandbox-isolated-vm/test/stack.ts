// Test support: a real PluginHost (core's createPluginHost) over port doubles, recording what
// plugins log, capture and fetch, and a helper that loads plugin files into the real sandbox.
import {
  type CaptureOrigin,
  createPluginHost,
  createTelemetry,
  type Fetch,
  type FetchRequest,
  type GeoIp,
  type HostAttachment,
  type LoadedPlugin,
  type PluginHost,
  type PluginInstance,
  type Sandbox,
} from '@sluice/core'
import { createIsolatedVmSandbox, type IsolatedVmSandboxOptions } from '../src/index.js'
import {
  createCacheDouble,
  createJobQueueDouble,
  createLogSinkDouble,
  createMetricsSinkDouble,
  createStorageDouble,
  systemClock,
} from './port-doubles.js'

export interface StackOptions {
  /** @default 1 */
  pluginId?: number
  fetch?: Fetch
  geoip?: GeoIp
  config?: Record<string, unknown>
  attachments?: Record<string, HostAttachment>
}

/** Everything a plugin host is built over, shared by the configs of one test. */
export function createStack() {
  const clock = systemClock
  const logSink = createLogSinkDouble()
  const metricsSink = createMetricsSinkDouble()
  const telemetry = createTelemetry({ clock, logSink, metricsSink, instanceId: 'test', flushIntervalMs: 10 })
  const cache = createCacheDouble()
  const storage = createStorageDouble()
  const jobQueue = createJobQueueDouble()
  const captured: Array<{ origin: CaptureOrigin; event: string; properties: Record<string, unknown> }> = []
  const fetched: FetchRequest[] = []
  let nextConfigId = 1

  const hostFor = (
    loaded: LoadedPlugin,
    pluginName: string,
    options: StackOptions = {},
  ): PluginHost & { configId: number } =>
    createPluginHost(
      {
        clock,
        cache,
        storage,
        jobQueue,
        telemetry,
        ...(options.fetch ? { fetch: recordingFetch(options.fetch, fetched) } : {}),
        ...(options.geoip ? { geoip: options.geoip } : {}),
        posthogApi: {
          host: 'https://posthog.example',
          projectApiKey: 'phc_test',
          personalApiKey: 'phx_test',
        },
        capture: async (origin, event, properties) => {
          captured.push({ origin, event, properties })
        },
      },
      {
        pluginId: options.pluginId ?? 1,
        pluginName,
        configId: nextConfigId++,
        teamId: 2,
        config: options.config ?? {},
        attachments: options.attachments ?? {},
        jobNames: loaded.capabilities.jobs,
        metrics: loaded.capabilities.metrics,
      },
    )

  /** Log lines written so far for a config, oldest first. */
  const logs = async (configId: number) => {
    await telemetry.flush()
    const entries = await logSink.query({ configId, limit: 1000 })
    return entries.map((entry) => `${entry.level}: ${entry.message}`).reverse()
  }

  return { clock, cache, storage, jobQueue, telemetry, metricsSink, captured, fetched, hostFor, logs }
}

function recordingFetch(fetch: Fetch, fetched: FetchRequest[]): Fetch {
  return {
    request(request) {
      fetched.push(request)
      return fetch.request(request)
    },
  }
}

/** `plugin.json` plus files, as a PluginSource. */
export function pluginSource(
  files: Record<string, string>,
  options: { name?: string; entry?: string; version?: string; pluginId?: number } = {},
) {
  const name = options.name ?? 'test-plugin'
  return {
    pluginId: options.pluginId ?? 1,
    name,
    version: options.version ?? '1',
    files: { 'plugin.json': JSON.stringify({ name }), ...files },
    entry: options.entry ?? (files['index.ts'] !== undefined ? 'index.ts' : 'index.js'),
  }
}

/** Loads plugin files in a fresh sandbox and instantiates one config. */
export async function loadPlugin(
  files: Record<string, string>,
  options: StackOptions & { sandbox?: IsolatedVmSandboxOptions; name?: string } = {},
): Promise<{
  sandbox: Sandbox
  loaded: LoadedPlugin
  instance: PluginInstance
  host: PluginHost
  stack: ReturnType<typeof createStack>
}> {
  const sandbox = createIsolatedVmSandbox(options.sandbox)
  const stack = createStack()
  const loaded = await sandbox.load(pluginSource(files, { ...(options.name ? { name: options.name } : {}) }))
  const host = stack.hostFor(loaded, options.name ?? 'test-plugin', options)
  const instance = await loaded.instantiate(host)
  return { sandbox, loaded, instance, host, stack }
}
