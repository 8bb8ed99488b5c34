import { readFileSync } from 'node:fs'
import ivm from 'isolated-vm'
import type { CompiledPlugin } from './compile.js'

const RUNTIME_SOURCE = readFileSync(new URL('./guest/runtime.js', import.meta.url), 'utf8')

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
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryLimitMb })
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
