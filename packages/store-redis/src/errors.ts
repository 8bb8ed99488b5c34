import { BusError, CacheError, LockError, type SluiceError } from '@sluice/core'

/** The port an error is reported for; it names the error class and prefixes the code. */
export type RedisPort = 'cache' | 'lock' | 'bus'

/** Why a Redis call failed, as far as the caller needs to know. */
export type RedisFailure =
  | 'unavailable'
  | 'timeout'
  | 'loading'
  | 'read_only'
  | 'auth'
  | 'wrong_type'
  | 'not_an_integer'
  | 'overflow'
  | 'command_failed'

/** A native error sorted into a {@link RedisFailure}. */
export interface RedisErrorClass {
  failure: RedisFailure
  /** Whether the same call may succeed later. */
  retryable: boolean
}

/** Where an error happened, for its message. */
export interface RedisErrorContext {
  /** The call, with its key where that helps, e.g. `lpush @plugin/1/2/queue`. */
  operation: string
  /** The server, as {@link describeEndpoint} gives it (never with credentials). */
  endpoint: string
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT',
])

/** Messages ioredis uses for its own connection-state errors. */
const CONNECTION_MESSAGES = [
  'Connection is closed.',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
]

/**
 * Sorts an ioredis or Node error into a {@link RedisFailure}. Connection trouble, a replica that
 * is read-only (a failover in progress) and a server still loading its data are retryable; type
 * errors, bad credentials and refused commands are not.
 */
export function classifyRedisError(error: unknown): RedisErrorClass {
  const { name, message, code } = errorFields(error)
  if (name === 'MaxRetriesPerRequestError') return { failure: 'unavailable', retryable: true }
  if (code && NETWORK_CODES.has(code)) return { failure: 'unavailable', retryable: true }
  if (CONNECTION_MESSAGES.some((text) => message.startsWith(text))) {
    return { failure: 'unavailable', retryable: true }
  }
  if (message === 'Command timed out') return { failure: 'timeout', retryable: true }
  if (message.startsWith('LOADING')) return { failure: 'loading', retryable: true }
  if (message.startsWith('READONLY')) return { failure: 'read_only', retryable: true }
  if (/^(NOAUTH|WRONGPASS|NOPERM)\b/.test(message) || message.includes('invalid password')) {
    return { failure: 'auth', retryable: false }
  }
  if (message.startsWith('WRONGTYPE')) return { failure: 'wrong_type', retryable: false }
  if (message.includes('would overflow')) return { failure: 'overflow', retryable: false }
  if (message.includes('not an integer')) return { failure: 'not_an_integer', retryable: false }
  return { failure: 'command_failed', retryable: false }
}

const ERROR_CLASSES = { cache: CacheError, lock: LockError, bus: BusError }

/**
 * Maps a native error to the port's error (`CacheError`, `LockError`, `BusError`) with code
 * `<port>.<failure>`, `retryable` decided by {@link classifyRedisError}, and a message that says
 * what to do. Sluice errors pass through unchanged.
 * @example
 * toPortError(error, 'cache', { operation: 'incr counter', endpoint: '127.0.0.1:6379' })
 * // CacheError [sluice:cache] incr counter: the value is not an integer — …  (cache.not_an_integer)
 */
export function toPortError(error: unknown, port: RedisPort, context: RedisErrorContext): SluiceError {
  if (error instanceof CacheError || error instanceof LockError || error instanceof BusError) return error
  const { failure, retryable } = classifyRedisError(error)
  const message = `${context.operation}: ${explain(failure, error, context.endpoint)}`
  return new ERROR_CLASSES[port](redactSecrets(message), {
    retryable,
    code: `${port}.${failure}`,
    cause: error,
  })
}

function explain(failure: RedisFailure, error: unknown, endpoint: string): string {
  const running = `is Redis running at ${endpoint}? (REDIS_URL)`
  const { name, message } = errorFields(error)
  switch (failure) {
    case 'unavailable':
      return name === 'MaxRetriesPerRequestError'
        ? `no answer from Redis at ${endpoint} while reconnecting — ${running}`
        : `Redis at ${endpoint} is unreachable (${message}) — ${running}`
    case 'timeout':
      return `Redis at ${endpoint} did not answer in time — is it overloaded, or unreachable? (REDIS_URL)`
    case 'loading':
      return `Redis at ${endpoint} is still loading its data set — retry in a moment`
    case 'read_only':
      return `Redis at ${endpoint} is a read-only replica — point REDIS_URL at the primary (after a failover this passes on its own)`
    case 'auth':
      return `Redis at ${endpoint} refused the credentials (${firstWord(message)}) — check the user and password in REDIS_URL`
    case 'wrong_type':
      return 'the key holds another type (a list where a string is expected, or the reverse) — use a different key for this type'
    case 'not_an_integer':
      return 'the value is not an integer — incr only works on integer strings, by an integer amount'
    case 'overflow':
      return 'the result would leave the 64-bit integer range'
    case 'command_failed':
      return `Redis refused the command: ${message}`
  }
}

function firstWord(message: string): string {
  return message.split(' ', 1)[0] ?? message
}

function errorFields(error: unknown): { name: string; message: string; code: string | undefined } {
  if (typeof error !== 'object' || error === null)
    return { name: '', message: String(error), code: undefined }
  const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown }
  return {
    name: typeof name === 'string' ? name : '',
    message: typeof message === 'string' ? message : String(error),
    code: typeof code === 'string' ? code : undefined,
  }
}

/** Replaces the password of every `redis://` / `rediss://` URL in `text` with `***`. */
export function redactSecrets(text: string): string {
  return text.replace(/(rediss?:\/\/[^\s/@:]*:)[^\s/@]*@/gi, '$1***@')
}

/**
 * A URL fit for messages and logs: the password (and a password-only user part) replaced by `***`.
 * @example redactUrl('redis://app:s3cret@cache:6379/0') // 'redis://app:***@cache:6379/0'
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    else if (parsed.username && parsed.protocol.startsWith('redis')) parsed.username = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^\s/]*@/, '//***@')
  }
}

/** The parts of ioredis client options that say where it connects. */
export interface EndpointOptions {
  host?: string
  port?: number
  path?: string | null
}

/** `host:port` (or the socket path) a client connects to, for messages; never with credentials. */
export function describeEndpoint(options: EndpointOptions): string {
  if (options.path) return options.path
  const host = options.host ?? '127.0.0.1'
  return `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 6379}`
}
