import { type Clock, createManualClock, type ManualClock } from '@sluice/core'

/**
 * How a suite makes time pass for the adapter under test. In-memory adapters take the suite's
 * manual clock and time moves instantly; adapters over real services keep real time and the suite
 * waits (so their suites use short TTLs).
 */
export type TimeMode = 'manual' | 'real'

/** Time as a suite controls it. */
export interface ConformanceTime {
  /** Hand this to the adapter (adapters with `real` time may ignore it). */
  readonly clock: Clock
  /** Makes `ms` pass for the adapter: advances the manual clock, or waits in real time. */
  advance(ms: number): Promise<void>
}

/** What a factory receives for each test. */
export interface SuiteEnv {
  time: ConformanceTime
  /** Unique per test: prefix keys, topics, channels and lock names with it so tests never collide. */
  namespace: string
}

/** Creates a fresh adapter for one test. Called again within a test for a second "instance". */
export type AdapterFactory<T> = (env: SuiteEnv) => T | Promise<T>

/** Options every suite accepts after `(name, factory, capabilities)`. */
export interface SuiteOptions<T> {
  /**
   * Whether the adapter runs on the suite's manual clock or on real time.
   * @default 'manual'
   */
  time?: TimeMode
  /** Releases an adapter created by the factory (connections, timers). */
  close?: (adapter: T) => void | Promise<void>
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  },
}

/** The time control for one test. */
export function createConformanceTime(mode: TimeMode, startMs = Date.UTC(2026, 0, 1)): ConformanceTime {
  if (mode === 'real') {
    return { clock: realClock, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) }
  }
  const clock: ManualClock = createManualClock(startMs)
  return {
    clock,
    async advance(ms) {
      clock.advance(ms)
      // Let promise chains that the timers started run before the test looks.
      await new Promise((resolve) => setImmediate(resolve))
    },
  }
}

let counter = 0

/** A namespace unique within this process and across runs, e.g. `t1732-42-`. */
export function uniqueNamespace(prefix = 't'): string {
  counter += 1
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-${counter}-`
}

/** Builds the env for one test and tracks what the factory created, so the suite can close it. */
export function createSuiteHarness<T>(factory: AdapterFactory<T>, options: SuiteOptions<T> = {}) {
  const created: T[] = []
  let env: SuiteEnv | undefined
  return {
    /** Starts a test: fresh time and namespace. */
    begin(): SuiteEnv {
      env = { time: createConformanceTime(options.time ?? 'manual'), namespace: uniqueNamespace() }
      return env
    },
    /** Creates an adapter instance for the current test (call twice for two "processes"). */
    async create(): Promise<T> {
      if (!env) throw new Error('createSuiteHarness: begin() must run before create()')
      const adapter = await factory(env)
      created.push(adapter)
      return adapter
    },
    /** Closes everything the current test created. */
    async end(): Promise<void> {
      const toClose = created.splice(0)
      if (options.close) for (const adapter of toClose) await options.close(adapter)
    },
    get env(): SuiteEnv {
      if (!env) throw new Error('createSuiteHarness: begin() must run first')
      return env
    },
  }
}
