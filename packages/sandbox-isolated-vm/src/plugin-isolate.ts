import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import ivm from 'isolated-vm'
import type { CompiledPlugin } from './compile.js'

const RUNTIME_SOURCE = readFileSync(new URL('./guest/runtime.js', import.meta.url), 'utf8')

/**
 * Largest semi-space of an isolate's young generation, in MB: a sixteenth of its memory limit,
 * 1 to 16 (8 for the default 128 MB limit).
 */
export const semiSpaceMb = (memoryLimitMb: number): number =>
  Math.min(16, Math.max(1, Math.floor(memoryLimitMb / 16)))

/**
 * A new isolate whose young generation may grow to {@link semiSpaceMb}. isolated-vm derives it from
 * the memory limit, 2 MB in all for 128 MB: smaller than the batches in flight in one isolate, so
 * their events outlived every scavenge, were copied and promoted, and garbage collection took a
 * quarter of the isolates' time. V8 reads the flag when it creates an isolate, and isolated-vm
 * creates it in the constructor, so setting the flag just around it leaves every other isolate
 * (the main one, worker threads) as it was.
 */
export function createIsolate(memoryLimitMb: number): ivm.Isolate {
  setFlagsFromString(`--max-semi-space-size=${semiSpaceMb(memoryLimitMb)}`)
  try {
    return new ivm.Isolate({ memoryLimit: memoryLimitMb })
  } finally {
    setFlagsFromString('--max-semi-space-size=0')
  }
}

/** Compiled scripts of one isolate generation. */
export interface IsolateScripts {
  runtime: ivm.Script
  modules: ReadonlyArray<{ path: string; script: ivm.Script; imports: Readonly<Record<string, string>> }>
}

/** Why an isolate was thrown away. */
export type IsolateLoss = 'memory' | 'watchdog' | 'disposed'

/** A live isolate and its compiled scripts; `generation` changes each time it is rebuilt. */
export interface IsolateHandle {
  isolate: ivm.Isolate
  scripts: IsolateScripts
  generation: number
}

/**
 * The isolate a loaded plugin runs in, shared by its configs (each has its own context). It is
 * built lazily, rebuilt after it dies (memory limit, watchdog), and bounds how many batches run
 * in it at once: one isolate runs on one thread, so more concurrency only adds memory.
 */
export class PluginIsolate {
  #handle: IsolateHandle | null = null
  #building: Promise<IsolateHandle> | null = null
  #generation = 0
  readonly #lost = new Map<number, IsolateLoss>()
  #active = 0
  readonly #waiting: Array<() => void> = []
  #closed = false
  #lastUsedBytes = 0

  constructor(
    readonly compiled: CompiledPlugin,
    private readonly memoryLimitMb: number,
    private readonly maxConcurrentBatches: number,
  ) {}

  /** The live isolate, built on first use and after a loss. */
  async handle(): Promise<IsolateHandle> {
    if (this.#closed) throw new Error('the plugin was unloaded')
    if (this.#handle && !this.#handle.isolate.isDisposed) return this.#handle
    if (this.#handle) this.#markLost('memory')
    this.#building ??= this.#build().finally(() => {
      this.#building = null
    })
    return this.#building
  }

  /**
   * Why `generation` ended, or null while it is alive. An isolate that disposed itself (its
   * memory limit) is recorded as such here.
   */
  lossOf(generation: number): IsolateLoss | null {
    const handle = this.#handle
    if (handle?.generation === generation) {
      if (!handle.isolate.isDisposed) return null
      this.#markLost('memory')
    }
    return this.#lost.get(generation) ?? 'disposed'
  }

  /**
   * Heap in use by the live isolate, external memory included; 0 while none is built. V8 answers
   * between the isolate's tasks, so a busy isolate is given `waitMs` before the last reading is used.
   */
  async usedHeapBytes(waitMs: number): Promise<number> {
    const handle = this.#handle
    if (!handle || handle.isolate.isDisposed) return 0
    let timer: NodeJS.Timeout | undefined
    const reading = handle.isolate.getHeapStatistics().then(
      (stats) => {
        this.#lastUsedBytes = stats.used_heap_size + stats.externally_allocated_size
        return this.#lastUsedBytes
      },
      () => this.#lastUsedBytes,
    )
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(() => resolve(this.#lastUsedBytes), waitMs)
    })
    try {
      return await Promise.race([reading, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Throws the current isolate away; calls in flight on it fail. */
  discard(generation: number, reason: IsolateLoss): void {
    if (this.#handle?.generation !== generation) return
    this.#markLost(reason)
  }

  /** Whether `generation` is still the live one. */
  isLive(generation: number): boolean {
    return this.#handle?.generation === generation && !this.#handle.isolate.isDisposed
  }

  /** Waits for a batch slot. */
  async acquire(): Promise<void> {
    if (this.#active < this.maxConcurrentBatches) {
      this.#active += 1
      return
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve))
  }

  /** Frees a batch slot, handing it to the next waiter. */
  release(): void {
    const next = this.#waiting.shift()
    if (next) next()
    else this.#active -= 1
  }

  close(): void {
    this.#closed = true
    if (this.#handle) this.#markLost('disposed')
  }

  #markLost(reason: IsolateLoss): void {
    const handle = this.#handle
    this.#handle = null
    if (handle) this.#lost.set(handle.generation, reason)
    if (handle && !handle.isolate.isDisposed) handle.isolate.dispose()
  }

  async #build(): Promise<IsolateHandle> {
    const isolate = createIsolate(this.memoryLimitMb)
    try {
      const runtime = await isolate.compileScript(RUNTIME_SOURCE, { filename: 'sluice:runtime' })
      const modules = await Promise.all(
        this.compiled.modules.map(async (module) => ({
          path: module.path,
          imports: module.imports,
          script: await isolate.compileScript(module.code, { filename: module.path }),
        })),
      )
      this.#generation += 1
      this.#handle = { isolate, scripts: { runtime, modules }, generation: this.#generation }
      return this.#handle
    } catch (error) {
      if (!isolate.isDisposed) isolate.dispose()
      throw error
    }
  }
}

/** A context slot reserved in one of a plugin's isolates. */
export interface IsolateSlot {
  isolate: PluginIsolate
  /** Gives the slot back; an isolate left without contexts is closed (the first one is kept). */
  free(): void
}

/**
 * The isolates of one loaded plugin version. A V8 context costs about 200 KB of heap before the
 * plugin stores anything in it, so a single isolate under a 128 MB limit runs out at some 600
 * configs: each isolate holds at most `contextsPerIsolate` configs, and the next config opens
 * another isolate. A memory blow-up then also takes down only the configs sharing its isolate.
 */
export class PluginIsolatePool {
  readonly #isolates: Array<{ isolate: PluginIsolate; contexts: number }> = []

  constructor(
    readonly compiled: CompiledPlugin,
    private readonly memoryLimitMb: number,
    private readonly maxConcurrentBatches: number,
    private readonly contextsPerIsolate: number,
  ) {
    this.#isolates.push(this.#open())
  }

  /** The isolate the plugin is first evaluated in, to learn its exports. */
  get first(): PluginIsolate {
    return (this.#isolates[0] as { isolate: PluginIsolate }).isolate
  }

  /** How many isolates are open. */
  get size(): number {
    return this.#isolates.length
  }

  /** Reserves a context in the first isolate with room, opening one if all are full. */
  reserve(): IsolateSlot {
    let entry = this.#isolates.find((candidate) => candidate.contexts < this.contextsPerIsolate)
    if (!entry) {
      entry = this.#open()
      this.#isolates.push(entry)
    }
    entry.contexts += 1
    const reserved = entry
    let freed = false
    return {
      isolate: reserved.isolate,
      free: () => {
        if (freed) return
        freed = true
        reserved.contexts -= 1
        const index = this.#isolates.indexOf(reserved)
        if (reserved.contexts === 0 && index > 0) {
          this.#isolates.splice(index, 1)
          reserved.isolate.close()
        }
      },
    }
  }

  /** Heap in use across the pool's isolates (see {@link PluginIsolate.usedHeapBytes}). */
  async usedHeapBytes(waitMs: number): Promise<number> {
    const used = await Promise.all(this.#isolates.map(({ isolate }) => isolate.usedHeapBytes(waitMs)))
    return used.reduce((sum, bytes) => sum + bytes, 0)
  }

  close(): void {
    for (const { isolate } of this.#isolates) isolate.close()
    this.#isolates.length = 0
  }

  #open() {
    return {
      isolate: new PluginIsolate(this.compiled, this.memoryLimitMb, this.maxConcurrentBatches),
      contexts: 0,
    }
  }
}
