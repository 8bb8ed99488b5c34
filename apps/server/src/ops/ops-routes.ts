import type { ConfigCounters, LiveConfig } from '@sluice/core'
import type { CaptureCounters } from '../capture/capture-routes.js'
import type { HttpResponse, Route } from '../http/types.js'

/** What the ops endpoints read. */
export interface OpsRoutesOptions {
  /** Whether the server takes work: true once started, false again while it shuts down. */
  ready(): boolean
  configs(): readonly LiveConfig[]
  counters(configId: number): ConfigCounters
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

/** The Prometheus text exposition (version 0.0.4) of the server's counters. */
export function renderMetrics(options: OpsRoutesOptions): string {
  const lines: string[] = []
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`)
  }
  const configs = options.configs()
  for (const [counter, name, help] of PER_CONFIG) {
    metric(
      name,
      'counter',
      help,
      configs.map((config) => [
        `{config_id="${config.id}",plugin="${escapeLabel(config.pluginName)}",team_id="${config.teamId}"}`,
        options.counters(config.id)[counter],
      ]),
    )
  }
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
        body: renderMetrics(options),
      }),
    },
  ]
}
