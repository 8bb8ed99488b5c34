import {
  type CallOutcome,
  type JsonCallOutcome,
  type JsonLaneCall,
  type LaneCall,
  longestLane,
  PLUGIN_FUNCTION_NAMES,
  type PluginFailure,
  type PluginHost,
  TEAM_ID_CHANGED,
} from '@sluice/core'
import ivm from 'isolated-vm'
import { type BridgeLimits, createBridge } from './bridge.js'
import type { IsolateHandle, IsolateLoss, PluginIsolate } from './plugin-isolate.js'

/** Limits of one plugin context. */
export interface GuestLimits extends BridgeLimits {
  /** Wall time of one call, including awaited promises. */
  callTimeoutMs: number
  /** Extra time the watchdog allows past a deadline before it disposes a stuck isolate. */
  watchdogGraceMs: number
  /** Longest JSON result of one call, in characters. */
  maxOutputChars: number
}

/** What the entry module exports, as the plugin-side runtime reports it. */
export interface ExportedShape {
  functions: string[]
  jobs: string[]
  metrics?: unknown
}

/** A plugin failed to evaluate; `stack` locates it in the plugin's files. */
export class GuestLoadError extends Error {
  constructor(
    message: string,
    readonly guestStack: string | undefined,
  ) {
    super(message)
    this.name = 'GuestLoadError'
  }
}

const MAX_FAILURE_NAME = 200
const MAX_FAILURE_MESSAGE = 8 * 1024
const MAX_FAILURE_STACK = 16 * 1024

const failure = (
  name: string,
  message: string,
  flags: Partial<Pick<PluginFailure, 'retry' | 'timeout'>> = {},
) => ({
  ok: false as const,
  failure: { name, message, retry: flags.retry ?? false, timeout: flags.timeout ?? false },
})

function lossFailure(loss: IsolateLoss, limits: GuestLimits, memoryLimitMb: number): CallOutcome {
  switch (loss) {
    case 'memory':
      return failure(
        'MemoryLimitError',
        `the plugin went over its ${memoryLimitMb} MB memory limit; its sandbox was disposed and will be rebuilt`,
      )
    case 'watchdog':
      return failure(
        'TimeoutError',
        `the plugin stopped responding for over ${limits.callTimeoutMs + limits.watchdogGraceMs} ms; its sandbox was disposed and will be rebuilt`,
        { retry: true, timeout: true },
      )
    default:
      return failure('SandboxDisposedError', 'the plugin was unloaded while the call was running')
  }
}

/** Checks an outcome that came from plugin-controlled code and keeps only what the port allows. */
function sanitiseOutcome(value: unknown): CallOutcome {
  if (typeof value !== 'object' || value === null) return failure('ProtocolError', 'malformed call result')
  const outcome = value as { ok?: unknown; value?: unknown; failure?: Record<string, unknown> }
  if (outcome.ok === true) return { ok: true, value: outcome.value }
  const reported = typeof outcome.failure === 'object' && outcome.failure !== null ? outcome.failure : {}
  const stack = typeof reported.stack === 'string' ? reported.stack.slice(0, MAX_FAILURE_STACK) : undefined
  return {
    ok: false,
    failure: {
      name: typeof reported.name === 'string' ? reported.name.slice(0, MAX_FAILURE_NAME) : 'Error',
      message: typeof reported.message === 'string' ? reported.message.slice(0, MAX_FAILURE_MESSAGE) : '',
      ...(stack === undefined ? {} : { stack }),
      retry: reported.retry === true,
      timeout: reported.timeout === true,
    },
  }
}

/**
 * The export list `boot` reported. Plugin code ran just before, and may have poisoned the
 * builtins `boot` uses to build it: keep only well-formed names.
 */
function readExported(json: string): ExportedShape {
  const reported = JSON.parse(json) as { functions?: unknown; jobs?: unknown; metrics?: unknown } | null
  const names = (value: unknown) =>
    Array.isArray(value) && value.every((name) => typeof name === 'string') ? (value as string[]) : null
  const functions = names(reported?.functions)
  const jobs = names(reported?.jobs)
  if (!functions || !jobs) {
    throw new GuestLoadError(
      'the plugin tampered with the runtime while loading: its exports cannot be read',
      undefined,
    )
  }
  return {
    functions: functions.filter((name) => (PLUGIN_FUNCTION_NAMES as readonly string[]).includes(name)),
    jobs,
    metrics: reported?.metrics,
  }
}

/** What every batch request tells the isolate's `run`, besides the calls. */
interface BatchHeader {
  batch: number
  fn: string
  timeoutMs: number
  /** Batches whose results the host has taken since its last request: the isolate drops them. */
  received: number[]
}

/** A failed outcome; the same in either kind of batch. */
type Failed = Extract<CallOutcome, { ok: false }>

/**
 * How one kind of batch crosses the boundary: what the isolate's `run` receives, and how its result
 * becomes outcomes. A JSON batch carries the calls' arguments inside its request; a text batch
 * carries each call's one argument as JSON text after it, and gets each value back as text.
 */
interface BatchCodec<C extends { lane: string }, O extends CallOutcome | JsonCallOutcome> {
  /** Arguments of the isolate's `run` for `calls`, its request carrying `header`. */
  request(header: BatchHeader, calls: readonly C[]): [string] | [string, string]
  /** The outcomes in a well-formed result, or null. */
  decode(result: string, count: number): O[] | null
  /** An outcome the isolate reported after an interrupt, in JSON form, already sanitised. */
  fromInline(outcome: CallOutcome): O
}

const jsonBatches: BatchCodec<LaneCall, CallOutcome> = {
  request: (header, calls) => [JSON.stringify({ ...header, calls })],
  decode(result, count) {
    let parsed: unknown
    try {
      parsed = JSON.parse(result)
    } catch {
      return null
    }
    return Array.isArray(parsed) && parsed.length === count ? parsed.map(sanitiseOutcome) : null
  },
  fromInline: (outcome) => outcome,
}

const textBatches: BatchCodec<JsonLaneCall, JsonCallOutcome> = {
  request(header, calls) {
    const lanes = new Array<string>(calls.length)
    const lengths = new Array<number>(calls.length)
    // Concatenated, not joined: V8 keeps the pieces as a rope, which isolated-vm copies straight
    // into the isolate. `join` would first copy a batch (often over V8's 128 KB large-object
    // size, a fresh mapping each time) only for it to be copied again: on a 138 KB batch that
    // cost half as much CPU again per crossing.
    let texts = ''
    calls.forEach((call, index) => {
      lanes[index] = call.lane
      lengths[index] = call.json.length
      texts += call.json
    })
    return [JSON.stringify({ ...header, lanes, lengths }), texts]
  },
  decode(result, count) {
    // `[outcomes]\n` then the values' texts in order; each value's outcome gives its length.
    const newline = result.indexOf('\n')
    if (newline < 0) return null
    let heads: unknown
    try {
      heads = JSON.parse(result.slice(0, newline))
    } catch {
      return null
    }
    if (!Array.isArray(heads) || heads.length !== count) return null
    let offset = newline + 1
    const outcomes = new Array<JsonCallOutcome>(count)
    for (let index = 0; index < count; index++) {
      const head = heads[index] as { ok?: unknown; n?: unknown } | null
      if (head?.ok !== true) {
        outcomes[index] = sanitiseOutcome(head) as Failed
        continue
      }
      if (head.n === undefined) {
        outcomes[index] = { ok: true, json: null }
        continue
      }
      const length = head.n
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) return null
      if (offset + length > result.length) return null
      outcomes[index] = { ok: true, json: result.slice(offset, offset + length) }
      offset += length
    }
    return offset === result.length ? outcomes : null
  },
  fromInline: (outcome) =>
    outcome.ok
      ? { ok: true, json: outcome.value === undefined ? null : JSON.stringify(outcome.value) }
      : outcome,
}

const isSyncTimeout = (error: unknown) => error instanceof Error && /execution timed out/i.test(error.message)

/**
 * Settles as `work` does, or rejects with `expired()` after `limitMs`. isolated-vm interrupts
 * JavaScript at its timeouts, but not a builtin running in native code (`indexOf` over a sparse
 * array of 2e9 slots runs for half a minute): past the limit `expired` disposes the isolate and
 * the host stops waiting, while the isolate's thread finishes the builtin on its own.
 */
async function withinHardLimit<T>(work: Promise<T>, limitMs: number, expired: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(expired()), limitMs)
  })
  try {
    return await Promise.race([work, expiry])
  } finally {
    clearTimeout(timer)
  }
}

interface GuestApi {
  run: ivm.Reference<(request: string, texts?: string) => string | null>
  wait: ivm.Reference<(batch: number) => Promise<string | null>>
  settle: ivm.Reference<(id: number, reply: string) => void>
  expire: ivm.Reference<() => number>
  collect: ivm.Reference<(batch: number) => string>
}

/**
 * One plugin config's context inside its plugin's isolate: the plugin-side runtime, the plugin's
 * modules and its `meta`. Runs batches with per-call deadlines and a watchdog.
 */
export class GuestContext {
  #batches = 0
  /** Batches whose results arrived since the last request (see {@link BatchHeader.received}). */
  #received: number[] = []
  #inFlight = 0
  #tick: ReturnType<typeof setTimeout> | null = null
  #released = false

  private constructor(
    private readonly owner: PluginIsolate,
    private readonly handle: IsolateHandle,
    private readonly context: ivm.Context,
    private readonly api: GuestApi,
    private readonly limits: GuestLimits,
    private readonly memoryLimitMb: number,
    /** What the entry module exports. */
    readonly exported: ExportedShape,
  ) {}

  /**
   * Creates a context, evaluates the plugin in it and binds `meta` to `host` (or to nothing while
   * probing at load). Rejects with {@link GuestLoadError} when the plugin throws while evaluating.
   */
  static async create(
    owner: PluginIsolate,
    host: PluginHost | null,
    limits: GuestLimits,
    memoryLimitMb: number,
  ): Promise<GuestContext> {
    const handle = await owner.handle()
    const { isolate, scripts } = handle
    const context = await isolate.createContext()
    const run = { timeout: limits.callTimeoutMs }
    try {
      // Filled in below, once the runtime's `settle` exists; host replies arrive only after that.
      let settle: GuestApi['settle'] | null = null
      const deliver = (id: number, reply: string) => {
        if (!settle || !owner.isLive(handle.generation)) return
        settle.apply(undefined, [id, reply], run).catch(() => {
          // A reply into a context that timed out or died: the call's deadline reports it.
        })
      }
      const bridge = createBridge(host, deliver, limits)
      const factory = await scripts.runtime.run(context, { ...run, reference: true })
      const settings = JSON.stringify({
        maxLogChars: limits.maxLogChars,
        maxOutputChars: limits.maxOutputChars,
        maxFailureChars: { name: MAX_FAILURE_NAME, message: MAX_FAILURE_MESSAGE, stack: MAX_FAILURE_STACK },
        teamIdChanged: TEAM_ID_CHANGED,
      })
      const runtime = (await factory.apply(undefined, [new ivm.Callback(bridge), settings], {
        ...run,
        result: { reference: true },
      })) as ivm.Reference<Record<string, unknown>>
      factory.release()
      const get = <T>(name: string) => runtime.get(name, { reference: true }) as Promise<ivm.Reference<T>>
      const define = await get<(path: string, body: unknown, imports: string) => void>('define')
      for (const module of scripts.modules) {
        const body = await module.script.run(context, { ...run, reference: true })
        await define.apply(undefined, [module.path, body.derefInto(), JSON.stringify(module.imports)], run)
        body.release()
      }
      const boot = await get<(entry: string, names: string, instance: string) => string>('boot')
      const instance = JSON.stringify({
        config: host?.config ?? {},
        attachments: Object.fromEntries(
          Object.entries(host?.attachments ?? {}).map(([key, attachment]) => [
            key,
            {
              content_type: attachment.content_type,
              file_name: attachment.file_name,
              contents: Buffer.from(attachment.contents).toString('base64'),
            },
          ]),
        ),
      })
      let exportedJson: string
      try {
        const loadLimitMs = limits.callTimeoutMs + limits.watchdogGraceMs
        exportedJson = (await withinHardLimit(
          boot.apply(undefined, [owner.compiled.entry, JSON.stringify(PLUGIN_FUNCTION_NAMES), instance], run),
          loadLimitMs,
          () => {
            owner.discard(handle.generation, 'watchdog')
            return new Error(`the plugin did not finish loading within ${loadLimitMs} ms`)
          },
        )) as string
      } catch (error) {
        const err = error as Error
        throw new GuestLoadError(err.message, err.stack)
      }
      const api: GuestApi = {
        run: await get('run'),
        wait: await get('wait'),
        settle: await get('settle'),
        expire: await get('expire'),
        collect: await get('collect'),
      }
      settle = api.settle
      define.release()
      boot.release()
      runtime.release()
      return new GuestContext(owner, handle, context, api, limits, memoryLimitMb, readExported(exportedJson))
    } catch (error) {
      context.release()
      throw error
    }
  }

  /** Whether this context still lives in its plugin's current isolate. */
  get live(): boolean {
    return !this.#released && this.owner.isLive(this.handle.generation)
  }

  /** Runs `fn` over `calls`; one outcome per call, in order. Never rejects. */
  runBatch(fn: string, calls: readonly LaneCall[]): Promise<CallOutcome[]> {
    return this.#runBatch(jsonBatches, fn, calls)
  }

  /** {@link runBatch} over one-argument calls given, and answered, as JSON text. */
  runTextBatch(fn: string, calls: readonly JsonLaneCall[]): Promise<JsonCallOutcome[]> {
    return this.#runBatch(textBatches, fn, calls)
  }

  async #runBatch<C extends { lane: string }, O extends CallOutcome | JsonCallOutcome>(
    codec: BatchCodec<C, O>,
    fn: string,
    calls: readonly C[],
  ): Promise<O[]> {
    const hardLimitMs =
      longestLane(calls, (call) => call.lane) * this.limits.callTimeoutMs + this.limits.watchdogGraceMs
    this.#inFlight += 1
    this.#scheduleTick(this.limits.callTimeoutMs)
    try {
      return await withinHardLimit(this.#attempt(codec, fn, calls), hardLimitMs, () => {
        this.owner.discard(this.handle.generation, 'watchdog')
        return new Error(`the batch passed its ${hardLimitMs} ms hard limit`)
      })
    } catch {
      const loss = this.owner.lossOf(this.handle.generation) ?? 'watchdog'
      return calls.map(() => lossFailure(loss, this.limits, this.memoryLimitMb) as O)
    } finally {
      this.#inFlight -= 1
    }
  }

  /** Releases the context; its calls in flight fail. */
  release(): void {
    if (this.#released) return
    this.#released = true
    if (this.#tick) clearTimeout(this.#tick)
    for (const reference of Object.values(this.api)) reference.release()
    if (!this.handle.isolate.isDisposed) this.context.release()
  }

  async #attempt<C extends { lane: string }, O extends CallOutcome | JsonCallOutcome>(
    codec: BatchCodec<C, O>,
    fn: string,
    calls: readonly C[],
  ): Promise<O[]> {
    const batch = ++this.#batches
    const header = { batch, fn, timeoutMs: this.limits.callTimeoutMs, received: this.#received }
    this.#received = []
    const request = codec.request(header, calls)
    try {
      let result: unknown
      try {
        result = await this.api.run.apply(undefined, request, { timeout: this.limits.callTimeoutMs })
        if (result === null) result = await this.#wait(batch)
        else this.#received.push(batch)
      } catch (error) {
        if (isSyncTimeout(error) || this.owner.lossOf(this.handle.generation)) throw error
        // A promise rejection the plugin left unhandled, which isolated-vm reports on the task it
        // happened in: the calls go on, and the isolate keeps the batch's result for `wait`.
        result = await this.#wait(batch)
      }
      return this.#outcomes(codec, result, calls.length)
    } catch (error) {
      const loss = this.owner.lossOf(this.handle.generation)
      if (loss) return calls.map(() => lossFailure(loss, this.limits, this.memoryLimitMb) as O)
      if (isSyncTimeout(error)) return this.#recoverInterrupted(codec, fn, batch, calls)
      return calls.map(
        () => failure('SandboxError', `the sandbox failed the call: ${(error as Error).message}`) as O,
      )
    }
  }

  /** The result the isolate keeps for `batch`, once the batch has finished. */
  #wait(batch: number): Promise<unknown> {
    return this.api.wait.apply(undefined, [batch], {
      timeout: this.limits.callTimeoutMs,
      result: { promise: true },
    })
  }

  #outcomes<O extends CallOutcome | JsonCallOutcome>(
    codec: BatchCodec<never, O>,
    result: unknown,
    count: number,
  ): O[] {
    const maxChars = count * (this.limits.maxOutputChars + 1024)
    if (typeof result !== 'string' || result.length > maxChars) {
      return new Array(count).fill(failure('OutputLimitError', 'the batch result is over the output limit'))
    }
    return (
      codec.decode(result, count) ?? new Array(count).fill(failure('ProtocolError', 'malformed batch result'))
    )
  }

  // A synchronous runaway (an infinite loop) interrupted the whole batch. Calls that finished
  // keep their outcome; calls that had started fail with the timeout; calls that had not started
  // run again in a batch of their own, so one bad event does not fail its neighbours.
  async #recoverInterrupted<C extends { lane: string }, O extends CallOutcome | JsonCallOutcome>(
    codec: BatchCodec<C, O>,
    fn: string,
    batch: number,
    calls: readonly C[],
  ): Promise<O[]> {
    let collected: { outcomes: unknown[]; started: unknown[] } = { outcomes: [], started: [] }
    try {
      const json = await this.api.collect.apply(undefined, [batch], { timeout: this.limits.callTimeoutMs })
      const report = JSON.parse(json as string) as {
        finished?: unknown
        outcomes?: unknown
        started?: unknown
      } | null
      // The batch finished after the interrupt (the deadline of the call that ran away failed it
      // first): the isolate keeps its result. Running its calls again would repeat them.
      if (report?.finished === true) {
        return this.#outcomes(codec, await this.#wait(batch).catch(() => null), calls.length)
      }
      // The report is plugin-controlled (a poisoned builtin can rewrite it); use it only if well-formed.
      if (report && Array.isArray(report.outcomes) && Array.isArray(report.started)) {
        collected = { outcomes: report.outcomes, started: report.started }
      }
    } catch {
      // No report: every call counts as not started.
    }
    const outcomes: O[] = new Array(calls.length)
    const rerun: number[] = []
    calls.forEach((_call, index) => {
      const done = collected.outcomes[index]
      if (done !== null && done !== undefined) outcomes[index] = codec.fromInline(sanitiseOutcome(done))
      else if (collected.started[index] === true) {
        outcomes[index] = failure(
          'TimeoutError',
          `${fn} did not finish within ${this.limits.callTimeoutMs} ms`,
          {
            retry: true,
            timeout: true,
          },
        ) as O
      } else rerun.push(index)
    })
    if (rerun.length > 0 && this.live) {
      const retried = await this.#runBatch(
        codec,
        fn,
        rerun.map((index) => calls[index] as C),
      )
      rerun.forEach((index, position) => {
        outcomes[index] = retried[position] as O
      })
    } else {
      for (const index of rerun) {
        outcomes[index] = lossFailure('disposed', this.limits, this.memoryLimitMb) as O
      }
    }
    return outcomes
  }

  // Deadlines live in the guest (it knows when each call started); the host asks it to expire
  // overdue calls. A guest that cannot answer within the grace period is stuck: dispose it.
  #scheduleTick(delayMs: number): void {
    if (this.#tick || this.#released) return
    this.#tick = setTimeout(() => {
      this.#tick = null
      if (this.#inFlight === 0 || !this.live) return
      const stuck = setTimeout(
        () => this.owner.discard(this.handle.generation, 'watchdog'),
        this.limits.callTimeoutMs + this.limits.watchdogGraceMs,
      )
      this.api.expire
        .apply(undefined, [], { timeout: this.limits.callTimeoutMs })
        .then(
          (next) => {
            // `next` comes from plugin-controlled code: a forged Infinity would become a 1 ms
            // host timer (with a TimeoutOverflowWarning each time). No real deadline is further
            // away than one call timeout.
            const wait =
              typeof next === 'number' && next > 0
                ? Math.min(this.limits.callTimeoutMs, Math.max(5, next - Date.now()))
                : this.limits.callTimeoutMs
            this.#scheduleTick(wait)
          },
          () => this.#scheduleTick(this.limits.callTimeoutMs),
        )
        .finally(() => clearTimeout(stuck))
    }, delayMs)
    this.#tick.unref?.()
  }
}
