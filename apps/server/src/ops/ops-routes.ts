import {
  CALL_LATENCY_BUCKETS,
  type CallLatency,
  type ConfigCounters,
  type LiveConfig,
  type PluginMemoryUsage,
} from '@sluice/core'
import type { CaptureCounters } from '../capture/capture-routes.js'
import type { HttpResponse, Route } from '../http/types.js'

/** What the ops endpoints read. */
export interface OpsRoutesOptions {
  /** Whether the server takes work: true once started, false again while it shuts down. */
  ready(): boolean
  configs(): readonly LiveConfig[]
  counters(configId: number): ConfigCounters
  callLatency(configId: number): CallLatency[]
  /** How far processing is behind the ingestion queue, in ms (`SluiceRuntime.queueLagMs`). */
  queueLagMs(): number
  /** The sandbox's memory use per loaded plugin version. */
  pluginMemory(): Promise<PluginMemoryUsage[]>
  capture: CaptureCounters
  instanceId: string
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

const PER_CONFIG: readonly [keyof ConfigCounters, string, string][] = [
  ['eventsIn', 'sluice_plugin_events_in_total', 'Events handed to the config.'],
  ['eventsOut', 'sluice_plugin_events_out_total', 'Events the config passed on.'],
  ['eventsDropped', 'sluice_plugin_events_dropped_total', 'Events the config dropped.'],
  ['eventsFailed', 'sluice_plugin_events_failed_total', 'Events the config failed on.'],
  ['fetches', 'sluice_plugin_fetches_total', 'fetch calls the config made.'],
]

/** The Prometheus text exposition (version 0.0.4) of the server's counters and gauges. */
export function renderMetrics(options: OpsRoutesOptions, pluginMemory: readonly PluginMemoryUsage[]): string {
  const lines: string[] = []
  /** One metric family; a sample is its series' name suffix and labels, and its value. */
  const metric = (
    name: string,
    type: 'counter' | 'gauge' | 'histogram',
    help: string,
    samples: [string, number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [series, value] of samples) lines.push(`${name}${series} ${value}`)
  }
  const configs = options.configs()
  const configLabels = (config: LiveConfig) =>
    `config_id="${config.id}",plugin="${escapeLabel(config.pluginName)}",team_id="${config.teamId}"`
  for (const [counter, name, help] of PER_CONFIG) {
    metric(
      name,
      'counter',
      help,
      configs.map((config) => [`{${configLabels(config)}}`, options.counters(config.id)[counter]]),
    )
  }
  metric(
    'sluice_plugin_call_duration_seconds',
    'histogram',
    'Plugin calls by function; a call of a batch lasts the batch time over the calls of its longest lane.',
    configs.flatMap((config) =>
      options.callLatency(config.id).flatMap((latency): [string, number][] => {
        const labels = `${configLabels(config)},function="${escapeLabel(latency.fn)}"`
        return [
          ...CALL_LATENCY_BUCKETS.map((le, index): [string, number] => [
            `_bucket{${labels},le="${le}"}`,
            latency.buckets[index] ?? 0,
          ]),
          [`_bucket{${labels},le="+Inf"}`, latency.count],
          [`_sum{${labels}}`, latency.sumSeconds],
          [`_count{${labels}}`, latency.count],
        ]
      }),
    ),
  )
  metric('sluice_plugin_configs_loaded', 'gauge', 'Plugin configs loaded on this instance, by status.', [
    ['{status="ready"}', configs.filter((config) => config.status === 'ready').length],
    ['{status="setting-up"}', configs.filter((config) => config.status === 'setting-up').length],
  ])
  metric('sluice_capture_requests_total', 'counter', 'Requests to the capture endpoints.', [
    ['', options.capture.requests],
  ])
  metric('sluice_capture_rejected_total', 'counter', 'Capture requests answered with an error.', [
    ['', options.capture.rejected],
  ])
  metric('sluice_capture_events_total', 'counter', 'Events accepted and queued.', [
    ['', options.capture.eventsAccepted],
  ])
  metric(
    'sluice_queue_lag_seconds',
    'gauge',
    'Age of the oldest event being processed (0 when none is): how far processing is behind the queue.',
    [['', options.queueLagMs() / 1000]],
  )
  const pluginLabels = (usage: PluginMemoryUsage) =>
    `{plugin="${escapeLabel(usage.name)}",plugin_id="${usage.pluginId}",version="${escapeLabel(usage.version)}"}`
  metric(
    'sluice_plugin_isolates',
    'gauge',
    'V8 isolates open for a loaded plugin version (its configs share them).',
    pluginMemory.map((usage) => [pluginLabels(usage), usage.sandboxes]),
  )
  metric(
    'sluice_plugin_isolate_heap_used_bytes',
    'gauge',
    "Heap in use by a plugin version's isolates, external memory included.",
    pluginMemory.map((usage) => [pluginLabels(usage), usage.usedBytes]),
  )
  metric(
    'sluice_plugin_isolate_heap_limit_bytes',
    'gauge',
    "Heap limits of a plugin version's isolates together.",
    pluginMemory.map((usage) => [pluginLabels(usage), usage.limitBytes]),
  )
  const memory = process.memoryUsage()
  metric('sluice_process_resident_memory_bytes', 'gauge', 'Resident set size, isolates included.', [
    ['', memory.rss],
  ])
  metric('sluice_process_heap_used_bytes', 'gauge', 'V8 heap of the host (not the isolates).', [
    ['', memory.heapUsed],
  ])
  metric('sluice_ready', 'gauge', '1 while the instance takes work.', [
    [`{instance="${escapeLabel(options.instanceId)}"}`, options.ready() ? 1 : 0],
  ])
  return `${lines.join('\n')}\n`
}

/** `/healthz` (alive), `/readyz` (taking work) and `/metrics` (Prometheus); no authentication. */
export function createOpsRoutes(options: OpsRoutesOptions): Route[] {
  const text = (status: number, body: string): HttpResponse => ({ status, body })
  return [
    { method: 'GET', path: '/healthz', handle: async () => text(200, 'ok\n') },
    {
      method: 'GET',
      path: '/readyz',
      handle: async () =>
        options.ready() ? text(200, 'ready\n') : text(503, 'not ready: starting or shutting down\n'),
    },
    {
      method: 'GET',
      path: '/metrics',
      handle: async () => ({
        status: 200,
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        body: renderMetrics(options, await options.pluginMemory()),
      }),
    },
  ]
}
