// `sluice run`: JSONL events through a chain of plugins, in the real sandbox on the memory stack.
import { randomUUID } from 'node:crypto'
import { resolve as resolvePath } from 'node:path'
import { createInterface } from 'node:readline'
import {
  createCapture,
  createCaptureDepth,
  createConfigManager,
  createPipeline,
  createTelemetry,
  describeError,
  type GeoIp,
  type LogSink,
  type PluginFunctionName,
  type ProcessedPluginEvent,
  type QueueMessage,
  type QueueTransport,
  type Sink,
  ValidationError,
} from '@sluice/core'
import { createMmdbGeoIp } from '@sluice/geoip-mmdb'
import { createHttpFetch } from '@sluice/http'
import {
  createMemoryCache,
  createMemoryDeadLetterStore,
  createMemoryJobQueue,
  createMemoryMetricsSink,
  createMemoryRegistry,
  createMemoryStorage,
  createSystemClock,
} from '@sluice/memory'
import { type LoadedPluginFiles, loadPluginFiles } from '@sluice/plugin-files'
import { createIsolatedVmSandbox } from '@sluice/sandbox-isolated-vm'
import { parseEventLine } from './event-lines.js'
import { type CliIo, writeTo } from './io.js'
import {
  type ChainPluginConfig,
  type ConfigArguments,
  folderName,
  resolveChainConfigs,
} from './plugin-config.js'
import { pluginProblemLines } from './problem-lines.js'

/** What `sluice run` was asked to do. */
export interface RunCommandOptions extends ConfigArguments {
  /** Plugin folders or archives, in chain order. */
  plugins: readonly string[]
  /** `--geoip`: a MaxMind City `.mmdb` file that answers `meta.geoip.locate`. */
  geoipDatabase?: string
  /**
   * Most input lines handed to the pipeline at once; fewer when input arrives slowly.
   * @default 500
   */
  batchSize?: number
}

/** The counts of the closing summary line. */
export interface RunCounts {
  /** Input lines that were not blank. */
  in: number
  /** Events written to stdout. */
  out: number
  /** Events a plugin dropped. */
  dropped: number
  /** Input lines that were not a usable event, plus plugin failures (one per plugin per event). */
  failed: number
  /** Events plugins captured with `posthog.capture`, run through the chain like input. */
  captured: number
}

/** The default team of events without `team_id`; configs of other teams are created when first seen. */
const DEFAULT_TEAM = 1
const NOT_RUN: readonly PluginFunctionName[] = [
  'exportEvents',
  'composeWebhook',
  'runEveryMinute',
  'runEveryHour',
  'runEveryDay',
]

class RunStopped extends Error {}

/** The summary line: `in N, out N, dropped N, failed N` (and `, captured N` when plugins captured). */
export function formatRunSummary(counts: RunCounts): string {
  const captured = counts.captured > 0 ? `, captured ${counts.captured}` : ''
  return `in ${counts.in}, out ${counts.out}, dropped ${counts.dropped}, failed ${counts.failed}${captured}`
}

/** Runs `sluice run`; resolves to the exit code. */
export async function runCommand(options: RunCommandOptions, io: CliIo): Promise<number> {
  const say = (line: string) => writeTo(io.stderr, `${line}\n`)

  const loaded: LoadedPluginFiles[] = []
  const problems: string[] = []
  for (const path of options.plugins) {
    try {
      loaded.push(await loadPluginFiles(path, { cwd: io.cwd }))
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error
      problems.push(...pluginProblemLines(path, error))
    }
  }
  let geoip: GeoIp | undefined
  if (options.geoipDatabase !== undefined) {
    try {
      geoip = await createMmdbGeoIp({ path: resolvePath(io.cwd, options.geoipDatabase) })
    } catch (error) {
      problems.push(`--geoip: ${describeError(error)}`)
    }
  }
  if (problems.length === 0) {
    const chain = loaded.map((plugin, index) => ({
      name: plugin.manifest.name,
      folder: folderName(options.plugins[index] as string),
      manifest: plugin.manifest,
    }))
    const resolved = await resolveChainConfigs(chain, options, io.cwd)
    if (resolved.ok) return runChain(loaded, resolved.configs, options, geoip ? { geoip } : {}, io)
    problems.push(...resolved.problems)
  }
  for (const problem of problems) await say(`sluice run: ${problem}`)
  await say(`sluice run: nothing was run (${problems.length} problem${problems.length === 1 ? '' : 's'})`)
  return 1
}

async function runChain(
  plugins: readonly LoadedPluginFiles[],
  configsByPlugin: readonly ChainPluginConfig[],
  options: RunCommandOptions,
  services: { geoip?: GeoIp },
  io: CliIo,
): Promise<number> {
  const say = (line: string) => writeTo(io.stderr, `${line}\n`)
  const counts: RunCounts = { in: 0, out: 0, dropped: 0, failed: 0, captured: 0 }
  const configNames = new Map<number, string>()

  const clock = createSystemClock()
  const registry = createMemoryRegistry({ clock })
  const jobQueue = createMemoryJobQueue()
  const deadLetters = createMemoryDeadLetterStore({ clock })
  const sandbox = createIsolatedVmSandbox()
  const logSink: LogSink = {
    async append(entries) {
      const text = entries
        .map(
          (entry) =>
            `[${configNames.get(entry.configId) ?? entry.configId}] ${entry.level}: ${entry.message}\n`,
        )
        .join('')
      await writeTo(io.stderr, text)
    },
    async query() {
      return []
    },
  }
  const telemetry = createTelemetry({
    clock,
    logSink,
    metricsSink: createMemoryMetricsSink(),
    instanceId: 'sluice-cli',
    flushIntervalMs: 200,
    onError: (error) => void say(`sluice run: ${describeError(error)}`),
  })
  const captured: string[] = []
  // posthog.capture produces here; the run loop feeds captured events back into the chain.
  const captureQueue: QueueTransport = {
    capabilities: { orderedByKey: true, redelivers: false, sharedConsumption: false, durable: false },
    async produce(_topic, records) {
      for (const record of records) captured.push(record.value)
    },
    async consume() {
      throw new Error('sluice run feeds captured events itself')
    },
    async close() {},
  }
  const stdoutSink: Sink = {
    name: 'stdout',
    async write(events: readonly ProcessedPluginEvent[]) {
      await writeTo(io.stdout, events.map((event) => `${JSON.stringify(event)}\n`).join(''))
      counts.out += events.length
    },
    async close() {},
  }
  const captureDepth = createCaptureDepth()
  const cache = createMemoryCache({ clock })
  const storage = createMemoryStorage()
  const capture = createCapture({
    clock,
    queue: captureQueue,
    ingestionTopic: 'sluice_events',
    deadLetters,
    telemetry,
    depth: captureDepth,
    newUuid: randomUUID,
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
      fetch: createHttpFetch(),
      ...services,
    },
  })
  const pipeline = createPipeline({
    clock,
    configs,
    sinks: [stdoutSink],
    deadLetters,
    jobQueue,
    telemetry,
    captureDepth,
  })

  const pluginIds: number[] = []
  for (const plugin of plugins) {
    const record = await registry.createPlugin({
      name: plugin.manifest.name,
      version: plugin.source.version,
      files: plugin.files,
    })
    pluginIds.push(record.id)
  }

  const teams = new Map<number, number[]>()
  const startTeam = async (teamId: number) => {
    if (teams.has(teamId)) return
    const ids: number[] = []
    for (const [index, pluginId] of pluginIds.entries()) {
      const settings = configsByPlugin[index] as ChainPluginConfig
      const record = await registry.createConfig({
        pluginId,
        teamId,
        enabled: true,
        order: index,
        config: settings.config,
      })
      for (const attachment of settings.attachments)
        await registry.putAttachment({ ...attachment, configId: record.id })
      configNames.set(record.id, plugins[index]?.manifest.name ?? String(pluginId))
      ids.push(record.id)
    }
    teams.set(teamId, ids)
    await configs.reconcile()
    await telemetry.flush()
    const problems: string[] = []
    for (const id of ids) {
      const name = configNames.get(id)
      const record = await registry.getConfig(id)
      // A config that failed to load or set up is disabled in the registry; the config manager
      // has logged why (flushed above), so the reason is not repeated here.
      if (record && !record.enabled) {
        problems.push(`[${name}] did not start (${record.error?.source ?? 'load'} failed); nothing was run`)
      } else if (configs.get(id)?.status !== 'ready') {
        problems.push(`[${name}] did not start (setupPlugin asked for a retry, which sluice run does not do)`)
      }
    }
    if (problems.length > 0) {
      for (const problem of problems) await say(`sluice run: ${problem}`)
      throw new RunStopped()
    }
    if (teamId === DEFAULT_TEAM) {
      for (const id of ids) {
        const live = configs.get(id)
        const skipped: string[] = NOT_RUN.filter((fn) => live?.has(fn))
        if ((live?.capabilities.jobs.length ?? 0) > 0) skipped.push('jobs')
        if (skipped.length > 0) {
          await say(`sluice run: note: [${configNames.get(id)}] ${skipped.join(', ')} not run by sluice run`)
        }
      }
    }
  }

  const handle = async (messages: QueueMessage[]) => {
    if (messages.length > 0) await pipeline.handleBatch(messages)
    // Captures re-enter the chain, as on the server; core stops chains deeper than 3.
    while (captured.length > 0) {
      const values = captured.splice(0, captured.length)
      counts.captured += values.length
      await pipeline.handleBatch(values.map((value, index) => message(value, `captured-${index}`)))
    }
    await telemetry.flush()
  }

  let exitCode = 0
  try {
    await startTeam(DEFAULT_TEAM)
    if (io.stdin.isTTY) await say('sluice run: reading JSONL events from stdin (end with Ctrl-D)')
    let lineNumber = 0
    for await (const lines of readLineBatches(io.stdin, options.batchSize ?? 500)) {
      const messages: QueueMessage[] = []
      for (const line of lines) {
        lineNumber += 1
        if (line.trim() === '') continue
        counts.in += 1
        const parsed = parseEventLine(line, clock.now(), { newUuid: randomUUID, teamId: DEFAULT_TEAM })
        if (!parsed.ok) {
          counts.failed += 1
          await say(`sluice run: line ${lineNumber}: ${parsed.reason}`)
          continue
        }
        await startTeam(parsed.teamId)
        messages.push(message(parsed.json, String(lineNumber)))
      }
      await handle(messages)
    }
  } catch (error) {
    exitCode = 1
    if ((error as { code?: unknown }).code === 'EPIPE') await say('sluice run: stopped: stdout was closed')
    else if (!(error instanceof RunStopped)) await say(`sluice run: stopped: ${describeError(error)}`)
  } finally {
    await configs.close().catch((error) => say(`sluice run: teardown failed: ${describeError(error)}`))
    await telemetry.close()
    await sandbox.close()
  }
  for (const ids of teams.values()) {
    for (const id of ids) {
      const counters = telemetry.counters(id)
      counts.dropped += counters.eventsDropped
      counts.failed += counters.eventsFailed
    }
  }
  await say(formatRunSummary(counts))
  return exitCode !== 0 || counts.failed > 0 ? 1 : 0
}

const message = (value: string, id: string): QueueMessage => ({
  id,
  key: null,
  value,
  deliveryAttempt: 1,
  publishedAt: Date.now(),
})

/**
 * Lines of a stream in batches: whatever has arrived, up to `size`, so a slow stream (`tail -f`)
 * is processed as it comes and a fast one in full batches. Reading pauses while a batch is worked.
 */
async function* readLineBatches(input: NodeJS.ReadableStream, size: number): AsyncGenerator<string[]> {
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  const pending: string[] = []
  let ended = false
  let failure: unknown = null
  let wake: (() => void) | null = null
  const notify = () => {
    wake?.()
    wake = null
  }
  reader.on('line', (line) => {
    pending.push(line)
    if (pending.length >= size * 2) reader.pause()
    notify()
  })
  reader.on('close', () => {
    ended = true
    notify()
  })
  input.on('error', (error) => {
    failure = error
    ended = true
    notify()
  })
  try {
    while (true) {
      if (pending.length === 0) {
        if (failure) throw failure
        if (ended) return
        await new Promise<void>((resolve) => {
          wake = resolve
        })
        continue
      }
      const batch = pending.splice(0, size)
      if (!ended && pending.length < size) reader.resume()
      yield batch
    }
  } finally {
    reader.close()
  }
}
