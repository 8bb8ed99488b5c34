import {
  type CallOutcome,
  chunkLanes,
  type JsonCallOutcome,
  type JsonLaneCall,
  type LaneCall,
  type LoadedPlugin,
  PluginCallError,
  type PluginCapabilities,
  type PluginFunctionName,
  type PluginHost,
  type PluginInstance,
  type PluginMemoryUsage,
  type PluginSource,
  parseMetricsDeclaration,
  type Sandbox,
  type SandboxCapabilities,
  SandboxError,
  type SchedulePeriod,
  ValidationError,
} from '@sluice/core'
import { type CompiledPlugin, compilePlugin } from './compile.js'
import { type ExportedShape, GuestContext, type GuestLimits, GuestLoadError } from './guest-context.js'
import { type IsolateSlot, type PluginIsolate, PluginIsolatePool } from './plugin-isolate.js'

/** Settings of {@link createIsolatedVmSandbox}; every limit has a SPEC default. */
export interface IsolatedVmSandboxOptions {
  /**
   * Wall time of one plugin call, including every promise it awaits. A synchronous runaway is
   * interrupted within the same bound.
   * @default 30000
   */
  callTimeoutMs?: number
  /**
   * Heap limit of a plugin's isolate, shared by the configs of that plugin version. Going over
   * it disposes that isolate only; it is rebuilt for the next call.
   * @default 128
   */
  memoryLimitMb?: number
  /**
   * Batches that may run in one isolate at once; more wait. One isolate runs on one thread, so
   * concurrency beyond a handful only adds memory.
   * @default 8
   */
  maxConcurrentBatches?: number
  /**
   * Configs of one plugin that share an isolate (each in its own context); the next config opens
   * another isolate with its own heap limit. A context costs about 200 KB before the plugin
   * stores anything, so the default keeps that fixed cost at a quarter of the heap limit.
   * @default memoryLimitMb × 1.25 (160 for 128 MB)
   */
  contextsPerIsolate?: number
  /**
   * Longest JSON result of one call, in characters (a returned event, say).
   * @default 1048576
   */
  maxOutputChars?: number
  /**
   * How long past a deadline a stuck isolate may stay unresponsive before it is disposed.
   * @default 2000
   */
  watchdogGraceMs?: number
}

/** What this sandbox guarantees. */
export const isolatedVmSandboxCapabilities: SandboxCapabilities = Object.freeze({
  isolation: 'isolate',
  enforcesTimeouts: true,
  enforcesMemoryLimit: true,
})

const SCHEDULES: readonly SchedulePeriod[] = ['runEveryMinute', 'runEveryHour', 'runEveryDay']

interface ResolvedOptions extends GuestLimits {
  memoryLimitMb: number
  maxConcurrentBatches: number
  contextsPerIsolate: number
}

function resolveOptions(options: IsolatedVmSandboxOptions): ResolvedOptions {
  const positive = (name: keyof IsolatedVmSandboxOptions, fallback: number) => {
    const value = options[name] ?? fallback
    if (!Number.isFinite(value) || value <= 0) {
      throw new ValidationError('sandbox', 'invalid sandbox options', [
        { field: name, message: `must be a positive number, got ${String(value)}` },
      ])
    }
    return value
  }
  const memoryLimitMb = positive('memoryLimitMb', 128)
  return {
    callTimeoutMs: positive('callTimeoutMs', 30_000),
    memoryLimitMb,
    contextsPerIsolate: Math.floor(
      positive('contextsPerIsolate', Math.max(1, Math.floor(memoryLimitMb * 1.25))),
    ),
    maxConcurrentBatches: positive('maxConcurrentBatches', 8),
    maxOutputChars: positive('maxOutputChars', 1024 * 1024),
    watchdogGraceMs: positive('watchdogGraceMs', 2000),
    maxRequestChars: 16 * 1024 * 1024,
    maxPendingCalls: 1000,
    maxZlibOutputBytes: 32 * 1024 * 1024,
    maxLogChars: 16 * 1024,
    maxLogCharsPerSecond: 1024 * 1024,
  }
}

function loadError(source: PluginSource, error: GuestLoadError): ValidationError {
  const paths = Object.keys(source.files).sort((a, b) => b.length - a.length)
  let field = source.entry
  for (const line of (error.guestStack ?? '').split('\n')) {
    const path = paths.find((candidate) => line.includes(`${candidate}:`))
    if (path) {
      const match = line.slice(line.indexOf(`${path}:`) + path.length + 1).match(/^(\d+)/)
      field = match ? `${path}:${match[1]}` : path
      break
    }
  }
  return new ValidationError('sandbox', `plugin '${source.name}' failed while loading`, [
    { field, message: error.message },
  ])
}

function capabilitiesOf(exported: ExportedShape): PluginCapabilities {
  const functions = exported.functions as PluginFunctionName[]
  return {
    functions,
    schedules: SCHEDULES.filter((period) => functions.includes(period)),
    jobs: exported.jobs,
    metrics: parseMetricsDeclaration(exported.metrics),
  }
}

/** How long a memory reading waits for a busy isolate before its last reading is used. */
const MEMORY_READING_WAIT_MS = 200

/** Calls per chunk when a large batch is split to overlap host and isolate work. */
const PIPELINE_CHUNK = 128

/**
 * One config's instance. Its context is rebuilt when its plugin's isolate was (memory limit,
 * watchdog); a `setupPlugin` that had succeeded runs again first, so `meta.global` is set up
 * again before any other call.
 */
class IsolatedPluginInstance implements PluginInstance {
  #guest: GuestContext
  #setupDone = false
  #disposed = false
  #rebuilding: Promise<GuestContext> | null = null

  private readonly plugin: PluginIsolate

  constructor(
    private readonly slot: IsolateSlot,
    private readonly host: PluginHost,
    private readonly options: ResolvedOptions,
    guest: GuestContext,
    private readonly onDispose: () => void,
  ) {
    this.plugin = slot.isolate
    this.#guest = guest
  }

  async call(fn: PluginFunctionName | `jobs.${string}`, args: readonly unknown[]): Promise<unknown> {
    const [outcome] = await this.#run(fn, [{ lane: '', args }], (guest, chunk) => guest.runBatch(fn, chunk))
    if (!outcome)
      throw new SandboxError('the sandbox returned no outcome', {
        retryable: false,
        code: 'sandbox.protocol',
      })
    if (!outcome.ok) throw new PluginCallError(fn, outcome.failure)
    return outcome.value
  }

  callEach(fn: PluginFunctionName, calls: readonly LaneCall[]): Promise<CallOutcome[]> {
    return this.#run(fn, calls, (guest, chunk) => guest.runBatch(fn, chunk))
  }

  callEachJson(fn: PluginFunctionName, calls: readonly JsonLaneCall[]): Promise<JsonCallOutcome[]> {
    return this.#run(fn, calls, (guest, chunk) => guest.runTextBatch(fn, chunk))
  }

  async dispose(): Promise<void> {
    this.#disposed = true
    this.#guest.release()
    this.slot.free()
    this.onDispose()
  }

  async #run<C extends { lane: string }, O extends CallOutcome | JsonCallOutcome>(
    fn: string,
    calls: readonly C[],
    runBatch: (guest: GuestContext, calls: readonly C[]) => Promise<O[]>,
  ): Promise<O[]> {
    if (this.#disposed) {
      throw new SandboxError(`the instance of '${this.host.pluginName}' was disposed`, {
        retryable: false,
        code: 'sandbox.disposed',
      })
    }
    if (calls.length === 0) return []
    const chunks = chunkLanes(
      calls.map((_call, index) => index),
      (index) => (calls[index] as C).lane,
      PIPELINE_CHUNK,
    )
    if (chunks.length === 1) return this.#runChunk(fn, calls, runBatch)
    // Chunks run concurrently so the host encodes and decodes one chunk while the isolate's
    // thread runs another. Lanes never span chunks, so per-lane order holds.
    const results = await Promise.all(
      chunks.map((chunk) =>
        this.#runChunk(
          fn,
          chunk.map((i) => calls[i] as C),
          runBatch,
        ),
      ),
    )
    const outcomes: O[] = new Array(calls.length)
    chunks.forEach((chunk, c) => {
      chunk.forEach((index, position) => {
        outcomes[index] = (results[c] as O[])[position] as O
      })
    })
    return outcomes
  }

  async #runChunk<C, O extends CallOutcome | JsonCallOutcome>(
    fn: string,
    calls: readonly C[],
    runBatch: (guest: GuestContext, calls: readonly C[]) => Promise<O[]>,
  ): Promise<O[]> {
    await this.plugin.acquire()
    try {
      const guest = await this.#liveGuest()
      if (!guest.ok) return calls.map(() => guest.outcome as O)
      const outcomes = await runBatch(guest.context, calls)
      if (fn === 'setupPlugin' && outcomes.every((outcome) => outcome.ok)) this.#setupDone = true
      return outcomes
    } finally {
      this.plugin.release()
    }
  }

  async #liveGuest(): Promise<{ ok: true; context: GuestContext } | { ok: false; outcome: CallOutcome }> {
    if (this.#guest.live) return { ok: true, context: this.#guest }
    try {
      this.#rebuilding ??= this.#rebuild().finally(() => {
        this.#rebuilding = null
      })
      return { ok: true, context: await this.#rebuilding }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      return {
        ok: false,
        outcome: { ok: false, failure: { name: 'SandboxError', message, retry: true, timeout: false } },
      }
    }
  }

  async #rebuild(): Promise<GuestContext> {
    this.#guest.release()
    const guest = await GuestContext.create(this.plugin, this.host, this.options, this.options.memoryLimitMb)
    this.#guest = guest
    if (this.#setupDone && guest.exported.functions.includes('setupPlugin')) {
      const [outcome] = await guest.runBatch('setupPlugin', [{ lane: '', args: [] }])
      if (outcome && !outcome.ok) {
        throw new Error(`setupPlugin failed when the sandbox was rebuilt: ${outcome.failure.message}`)
      }
    }
    return guest
  }
}

/**
 * The Sandbox port over isolated-vm. Each loaded plugin version gets its own V8 isolate (heap
 * limit, one thread); each plugin config a context in it with its own globals and `meta`. Plugin
 * source is compiled once per `(pluginId, version)`; events cross the boundary as one JSON string
 * per batch, and the plugin reaches the host only through a string-only bridge to its
 * `PluginHost`.
 */
export function createIsolatedVmSandbox(options: IsolatedVmSandboxOptions = {}): Sandbox {
  const resolved = resolveOptions(options)
  const compiled = new Map<string, CompiledPlugin>()
  /** Each loaded plugin's isolates, with the identity of its source. */
  const loaded = new Map<PluginIsolatePool, Pick<PluginSource, 'pluginId' | 'name' | 'version'>>()
  let closed = false

  const compile = (source: PluginSource) => {
    const key = `${source.pluginId}@${source.version}`
    let plugin = compiled.get(key)
    if (!plugin) {
      plugin = compilePlugin(source)
      compiled.set(key, plugin)
    }
    return plugin
  }

  return {
    capabilities: isolatedVmSandboxCapabilities,
    async load(source: PluginSource): Promise<LoadedPlugin> {
      if (closed)
        throw new SandboxError('the sandbox is closed', { retryable: false, code: 'sandbox.closed' })
      const plugin = new PluginIsolatePool(
        compile(source),
        resolved.memoryLimitMb,
        resolved.maxConcurrentBatches,
        resolved.contextsPerIsolate,
      )
      let capabilities: PluginCapabilities
      try {
        const probe = await GuestContext.create(plugin.first, null, resolved, resolved.memoryLimitMb)
        probe.release()
        capabilities = capabilitiesOf(probe.exported)
      } catch (error) {
        plugin.close()
        if (error instanceof GuestLoadError) throw loadError(source, error)
        throw error
      }
      loaded.set(plugin, { pluginId: source.pluginId, name: source.name, version: source.version })
      const instances = new Set<IsolatedPluginInstance>()
      return {
        capabilities,
        async instantiate(host: PluginHost): Promise<PluginInstance> {
          const slot = plugin.reserve()
          let guest: GuestContext
          try {
            guest = await GuestContext.create(slot.isolate, host, resolved, resolved.memoryLimitMb)
          } catch (error) {
            slot.free()
            if (error instanceof GuestLoadError) throw loadError(source, error)
            throw error
          }
          const instance = new IsolatedPluginInstance(slot, host, resolved, guest, () =>
            instances.delete(instance),
          )
          instances.add(instance)
          return instance
        },
        async dispose() {
          for (const instance of [...instances]) await instance.dispose()
          loaded.delete(plugin)
          plugin.close()
        },
      }
    },
    async memoryUsage(): Promise<PluginMemoryUsage[]> {
      const byVersion = new Map<string, PluginMemoryUsage>()
      const readings = [...loaded].map(async ([pool, identity]) => {
        const usedBytes = await pool.usedHeapBytes(MEMORY_READING_WAIT_MS)
        const key = `${identity.pluginId}@${identity.version}`
        const usage = byVersion.get(key) ?? { ...identity, sandboxes: 0, usedBytes: 0, limitBytes: 0 }
        usage.sandboxes += pool.size
        usage.usedBytes += usedBytes
        usage.limitBytes += pool.size * resolved.memoryLimitMb * 1024 * 1024
        byVersion.set(key, usage)
      })
      await Promise.all(readings)
      return [...byVersion.values()]
    },
    async close() {
      closed = true
      for (const plugin of loaded.keys()) plugin.close()
      loaded.clear()
      compiled.clear()
    },
  }
}
