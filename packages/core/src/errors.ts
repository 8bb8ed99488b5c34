/**
 * Sluice's error taxonomy. Every error the runtime raises or maps from a driver is a
 * {@link SluiceError}: it names the component, carries a stable `code`, and says whether
 * retrying the same operation may succeed. Adapters map their driver's native errors into the
 * port-named subclasses (`QueueError`, `CacheError`, …) and decide `retryable` there.
 */

/** Options shared by every Sluice error. */
export interface SluiceErrorOptions {
  /** Whether the same operation may succeed if tried again later. */
  retryable: boolean
  /** Stable, machine-readable identifier, e.g. `cache.unavailable`. */
  code: string
  /** The component that raised it, shown in messages as `[sluice:<component>]`. */
  component: string
  /** The underlying error, if any. */
  cause?: unknown
}

/** Base class of every error Sluice raises. */
export class SluiceError extends Error {
  /** Whether the same operation may succeed if tried again later. */
  readonly retryable: boolean
  /** Stable, machine-readable identifier. */
  readonly code: string
  /** The component that raised it. */
  readonly component: string

  constructor(message: string, options: SluiceErrorOptions) {
    super(
      `[sluice:${options.component}] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    )
    this.name = new.target.name
    this.retryable = options.retryable
    this.code = options.code
    this.component = options.component
  }
}

/** Options of the port-named errors: the component defaults to the port's name. */
export type PortErrorOptions = Omit<SluiceErrorOptions, 'component'> & { component?: string }

function portError(defaultComponent: string) {
  return class extends SluiceError {
    constructor(message: string, options: PortErrorOptions) {
      super(message, { ...options, component: options.component ?? defaultComponent })
    }
  }
}

/** A queue transport failed to consume, produce or commit. */
export class QueueError extends portError('queue') {}
/** A sink failed to accept events. */
export class SinkError extends portError('sink') {}
/** The cache failed or was given a value it cannot hold. */
export class CacheError extends portError('cache') {}
/** Durable storage or a cursor failed. */
export class StorageError extends portError('storage') {}
/** The job queue failed to enqueue, hand out or settle a job. */
export class JobQueueError extends portError('job-queue') {}
/** The leader lock failed. */
export class LockError extends portError('lock') {}
/** The cluster bus failed to publish or subscribe. */
export class BusError extends portError('bus') {}
/** The registry failed, or a plugin, config or attachment does not exist. */
export class RegistryError extends portError('registry') {}
/** The log sink failed to append or query. */
export class LogSinkError extends portError('log-sink') {}
/** The metrics sink failed, or a metric update was invalid. */
export class MetricsSinkError extends portError('metrics') {}
/** The dead-letter store failed. */
export class DeadLetterError extends portError('dead-letter') {}
/** The sandbox failed to load or call a plugin (not an error thrown by plugin code). */
export class SandboxError extends portError('sandbox') {}
/** An outgoing HTTP request failed or was refused. */
export class FetchError extends portError('fetch') {}
/** GeoIP lookup failed or no database is configured. */
export class GeoIpError extends portError('geoip') {}

/** One problem found in user input, tied to the field it concerns. */
export interface Problem {
  /** The field, as a path (`config.choices[2]`) or a config key. */
  field: string
  /** What is wrong and, where possible, what to do. */
  message: string
}

/**
 * Input from an operator or plugin author is invalid: a plugin.json, a plugin config, an event.
 * Never retryable. Carries every problem found, not just the first.
 */
export class ValidationError extends SluiceError {
  /** Every problem found, in input order. */
  readonly problems: readonly Problem[]

  constructor(component: string, summary: string, problems: readonly Problem[]) {
    const details = problems.map((p) => `${p.field}: ${p.message}`).join('; ')
    super(details ? `${summary}: ${details}` : summary, {
      retryable: false,
      code: `${component}.invalid`,
      component,
    })
    this.problems = problems
  }
}

/**
 * The error plugins throw to ask for a retry (`RetryError` of `@posthog/plugin-scaffold`).
 * Functions with a retry policy (setupPlugin, onEvent, onSnapshot, exportEvents, jobs) are
 * retried durably on it; elsewhere it is recorded like any other error.
 */
export class RetryError extends Error {
  readonly _isRetryError = true
  constructor(message?: string) {
    super(message)
    this.name = 'RetryError'
  }
}

/** A plugin call exceeded its wall-time limit. It counts as a `RetryError` for retried functions. */
export class PluginTimeoutError extends RetryError {
  constructor(functionName: string, limitMs: number) {
    super(`${functionName} did not finish within ${limitMs} ms`)
    this.name = 'TimeoutError'
  }
}

/** Whether retrying the operation that raised `error` may succeed. Unknown errors are not retryable. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof SluiceError) return error.retryable
  return isRetryError(error)
}

/**
 * Whether `error` asks for a retry the way plugins do. Recognises errors that crossed a sandbox
 * boundary (and so are not instances of this realm's class) by their name or marker.
 */
export function isRetryError(error: unknown): boolean {
  if (error instanceof RetryError) return true
  if (typeof error !== 'object' || error === null) return false
  const candidate = error as { name?: unknown; _isRetryError?: unknown }
  return (
    candidate._isRetryError === true || candidate.name === 'RetryError' || candidate.name === 'TimeoutError'
  )
}

/** A readable one-line description of anything thrown. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message ? `${error.name}: ${error.message}` : error.name
  if (typeof error === 'string') return error
  // Errors from another realm (a sandbox) arrive as plain `{ name, message }` data.
  if (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
  ) {
    const { name, message } = error as { name?: unknown; message: string }
    return `${typeof name === 'string' && name ? name : 'Error'}: ${message}`
  }
  try {
    return JSON.stringify(error) ?? String(error)
  } catch {
    return String(error)
  }
}
