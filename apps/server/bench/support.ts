// What the server benchmarks share: an in-process server on the embedded default, three cheap
// processEvent plugins installed through the admin API, and PostHog-shaped events.
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadServerConfig } from '../src/config.js'
import { createJsonLogger } from '../src/logger.js'
import { type SluiceServer, startServer } from '../src/server.js'
import { callAdminOrThrow } from '../test/admin-client.js'

const ADMIN_TOKEN = 'bench-admin-token-0123456789'

/** An in-process server for a benchmark, with its data folder and an admin API client. */
export interface BenchServer {
  server: SluiceServer
  dataDir: string
  /** An admin API call with the server's token; throws on any answer but 2xx. */
  admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>
  /** Stops the server; `keepData` leaves the data folder for a later start. */
  stop(options?: { keepData?: boolean }): Promise<void>
}

/**
 * Starts a server over the embedded defaults (port 0, `dataDir` or a new temporary folder, events
 * to `<data dir>/events.jsonl`) with `env` on top. Only warnings and errors are logged, to stderr.
 */
export async function startBenchServer(
  env: Record<string, string> = {},
  dataDir?: string,
): Promise<BenchServer> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'sluice-bench-')))
  const config = loadServerConfig(
    { SLUICE_PORT: '0', SLUICE_ADMIN_TOKEN: ADMIN_TOKEN, SLUICE_DATA_DIR: dir, ...env },
    dir,
  )
  const server = await startServer(
    config,
    createJsonLogger({ stream: process.stderr, level: 'warn', instanceId: 'bench' }),
  )
  return {
    server,
    dataDir: dir,
    admin: (method, path, body) => callAdminOrThrow(server.url, ADMIN_TOKEN, method, path, body),
    async stop(options = {}) {
      await server.stop()
      if (!options.keepData) await rm(dir, { recursive: true, force: true })
    },
  }
}

// Three plugins of the kind real pipelines run (the same as the sandbox benchmark's): a property
// transformation, a filter-and-tag, an enrichment that derives fields from the URL.
const PLUGIN_SOURCES: Record<string, string> = {
  'bench-normalize': `export function processEvent(event) {
    const props = event.properties ?? {}
    for (const key of Object.keys(props)) if (key.startsWith('$secret')) delete props[key]
    props.normalized_event = event.event.toLowerCase().trim()
    event.properties = props
    return event
  }`,
  'bench-tag': `export function processEvent(event) {
    if (event.event === 'never-sent') return null
    event.properties.tags = [...(event.properties.tags ?? []), 'seen']
    return event
  }`,
  'bench-url': `export function processEvent(event) {
    const url = event.properties.$current_url
    if (typeof url === 'string') {
      const query = url.indexOf('?')
      event.properties.path = query < 0 ? url : url.slice(0, query)
      event.properties.utm_source = /[?&]utm_source=([^&]*)/.exec(url)?.[1] ?? null
    }
    return event
  }`,
}

/** Installs one benchmark plugin (`bench-normalize`, `bench-tag` or `bench-url`) from files; returns its id. */
export async function installBenchPlugin(bench: BenchServer, name: string): Promise<number> {
  const source = PLUGIN_SOURCES[name]
  if (source === undefined) throw new Error(`no benchmark plugin ${name}: use ${Object.keys(PLUGIN_SOURCES)}`)
  const plugin = await bench.admin('POST', '/api/plugins', {
    files: { 'plugin.json': JSON.stringify({ name, main: 'index.js' }), 'index.js': source },
  })
  return plugin.id as number
}

/** Installs the three benchmark plugins with a config each for `teamId`; returns the config ids. */
export async function installThreePlugins(bench: BenchServer, teamId: number): Promise<number[]> {
  const configIds: number[] = []
  for (const name of Object.keys(PLUGIN_SOURCES)) {
    const pluginId = await installBenchPlugin(bench, name)
    const config = await bench.admin('POST', '/api/configs', { pluginId, teamId, enabled: true })
    configIds.push(config.id as number)
  }
  return configIds
}

/** Waits until `count` configs are loaded and `ready` on this server. */
export async function waitUntilReady(
  server: SluiceServer,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ready = server.runtime.configs.all().filter((config) => config.status === 'ready').length
    if (ready >= count) return
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${count} configs became ready`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * A PostHog-shaped event as an SDK sends it to `/batch/` (~700 bytes of JSON), one of 50 users.
 * `sentAtMs` goes into `properties.bench_sent_ms` for end-to-end latency.
 */
export function sdkEvent(index: number, sentAtMs: number): Record<string, unknown> {
  return {
    event: index % 3 === 0 ? '$pageview' : 'Clicked Button',
    distinct_id: `user-${index % 50}`,
    timestamp: new Date(sentAtMs).toISOString(),
    properties: {
      bench_sent_ms: sentAtMs,
      $current_url: `https://app.example.com/products/${index % 100}?utm_source=newsletter&ref=${index}`,
      $browser: 'Chrome',
      $browser_version: 131,
      $os: 'Mac OS X',
      $screen_height: 1080,
      $screen_width: 1920,
      $lib: 'web',
      $lib_version: '1.200.0',
      $secret_token: 'abc',
      $device_id: `device-${index % 50}`,
      $session_id: `session-${index % 20}`,
      plan: 'enterprise',
      items_in_cart: index % 7,
      referrer: 'https://www.example.org/some/long/referrer/path?with=query&and=more',
      tags: ['a', 'b'],
      nested: { a: 1, b: [1, 2, 3], c: { d: 'e' } },
    },
    $set: { email: `user${index % 50}@example.com`, name: `User ${index % 50}` },
  }
}

/** The benchmark's heading: Node, cores and load, so numbers are read with their conditions. */
export function describeMachine(): string {
  const flags = process.execArgv.filter((flag) => flag.includes('semi-space'))
  return `Node ${process.version}${flags.length > 0 ? ` (${flags.join(' ')})` : ''}, ${cpus().length} cores`
}

/** The value at `fraction` (0..1) of `values` sorted ascending, in the unit they are in. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number
}

/** `1234567` → `1,234,567`. */
export const formatNumber = (value: number): string => Math.round(value).toLocaleString('en-US')
