import { type PortErrorOptions, SluiceError } from '@sluice/core'

/** What went wrong, as far as a caller deciding whether to retry needs to know. */
export type PostgresFailureKind =
  /** The server is unreachable, restarting, shutting down or out of connections or resources. */
  | 'unavailable'
  /** A serialization failure or deadlock: the transaction lost a race and may simply be run again. */
  | 'conflict'
  /** A statement was cancelled or waited too long for a lock. */
  | 'timeout'
  /** A unique, foreign-key, not-null or check constraint refused the write. */
  | 'constraint'
  /** The server refused a value (bad text for its type, out of range, invalid JSON, NUL character). */
  | 'invalid_input'
  /** A table or schema Sluice needs is missing: the schema was dropped or not migrated. */
  | 'not_migrated'
  /** The server refused the user or password. */
  | 'auth'
  /** The connection settings point at something that does not exist (e.g. the database). */
  | 'misconfigured'
  /** The store was closed. */
  | 'closed'
  /** Anything else: a bug or an unexpected server answer; not retried. */
  | 'failed'

/** How a native error was classified. */
export interface PostgresFailure {
  kind: PostgresFailureKind
  retryable: boolean
  /** What the operator can do about it, without a trailing period. */
  hint: string
  /** The SQLSTATE or Node error code, when the error carried one. */
  nativeCode?: string
}

const failure = (kind: PostgresFailureKind, retryable: boolean, hint: string, nativeCode?: string) =>
  nativeCode === undefined ? { kind, retryable, hint } : { kind, retryable, hint, nativeCode }

const UNAVAILABLE_HINT = 'is PostgreSQL running and reachable? Retrying may succeed'

/** Node socket and DNS error codes: the server could not be reached, for now. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ESOCKETTIMEDOUT',
])

/** node-pg reports some connection failures only by message. */
const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection timeout/i,
  /query read timeout/i,
  /client has encountered a connection error/i,
  /client was closed and is not queryable/i,
  /server closed the connection unexpectedly/i,
]

function stringProperty(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const property = (value as Record<string, unknown>)[key]
  return typeof property === 'string' ? property : undefined
}

/** Classifies a SQLSTATE (five characters: a two-character class and a subclass). */
function classifySqlState(code: string): PostgresFailure {
  switch (code) {
    case '40001':
      return failure('conflict', true, 'a concurrent transaction won a serialization race; retry', code)
    case '40P01':
      return failure('conflict', true, 'deadlock with a concurrent transaction; retry', code)
    case '57014':
      return failure('timeout', true, 'the statement was cancelled (statement_timeout?); retry', code)
    case '55P03':
      return failure('timeout', true, 'a lock was not available in time; retry', code)
    case '25P03':
      return failure('timeout', true, 'the session idled too long inside a transaction; retry', code)
    case '42P01':
    case '3F000':
      return failure(
        'not_migrated',
        false,
        'a table Sluice needs is missing — was the schema dropped? Restart to run the migrations again',
        code,
      )
    case '08P01':
      return failure(
        'failed',
        false,
        'the server refused the request (protocol violation); this is a bug',
        code,
      )
    case '3D000':
      return failure('misconfigured', false, 'the database does not exist — create it or fix the url', code)
    case '22P05':
    case '22021':
      return failure(
        'invalid_input',
        false,
        'PostgreSQL text cannot hold NUL characters (\\u0000) — remove them from the value',
        code,
      )
  }
  switch (code.slice(0, 2)) {
    case '08':
    case '53':
    case '57':
    case '58':
      return failure('unavailable', true, UNAVAILABLE_HINT, code)
    case '40':
      return failure('conflict', true, 'the transaction was rolled back by the server; retry', code)
    case '23':
      return failure('constraint', false, 'a constraint refused the write', code)
    case '22':
      return failure('invalid_input', false, 'the server refused a value', code)
    case '28':
      return failure('auth', false, 'check the user name and password in the connection url', code)
    case '55':
      return failure('timeout', true, 'an object was in use; retry', code)
    default:
      return failure('failed', false, 'an unexpected PostgreSQL error; this is likely a bug in Sluice', code)
  }
}

/**
 * Classifies anything a driver threw: a server error by its SQLSTATE (`pg` and PGlite both carry it
 * as `code`), a Node socket error by its code, and node-pg's code-less connection errors by message.
 */
export function classifyPostgresError(error: unknown): PostgresFailure {
  const code = stringProperty(error, 'code')
  // Socket codes first: EPIPE looks like a SQLSTATE.
  if (code !== undefined && SOCKET_CODES.has(code))
    return failure('unavailable', true, UNAVAILABLE_HINT, code)
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return classifySqlState(code)
  const message = stringProperty(error, 'message') ?? ''
  if (/after calling end on the pool|pglite is clos/i.test(message)) {
    return failure('closed', false, 'the store was closed — create a new one')
  }
  if (CONNECTION_MESSAGES.some((pattern) => pattern.test(message))) {
    return failure('unavailable', true, UNAVAILABLE_HINT)
  }
  return failure('failed', false, 'an unexpected error; this is likely a bug in Sluice')
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; anything else unchanged. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/?#\s]*@/i, '$1***@')
}

/**
 * Returns a function that removes secrets from text: passwords in any URL it contains, and the
 * given secrets (e.g. the connection url's password, raw and URL-decoded) wherever they appear.
 */
export function createRedactor(secrets: readonly string[] = []): (text: string) => string {
  const known = [...new Set(secrets.filter((secret) => secret.length >= 1))].sort(
    (a, b) => b.length - a.length,
  )
  return (text) => {
    let result = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/?#\s]*@/gi, '$1***@')
    for (const secret of known) result = result.split(secret).join('***')
    return result
  }
}

/** The password of a connection url, raw and decoded, for {@link createRedactor}. */
export function urlSecrets(url: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^@/?#\s]*)@/i.exec(url)
  const raw = match?.[1]
  if (!raw) return []
  let decoded = raw
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    // A malformed escape: the raw form is all there is to redact.
  }
  return [raw, decoded]
}

/** A port error class of core (`StorageError`, `RegistryError`, …). */
export type PortErrorClass = new (message: string, options: PortErrorOptions) => SluiceError

/** What {@link toPortError} needs to name the failure. */
export interface PortErrorContext {
  /** The port error class to raise. */
  errorClass: PortErrorClass
  /** Code prefix of that port, e.g. `storage` → `storage.unavailable`. */
  codePrefix: string
  /** What was being done, e.g. `storage.increment`. */
  operation: string
  /** Removes secrets from the message. */
  redact?: (text: string) => string
}

/**
 * Maps a native driver error into the port's error class: `retryable` and `code` from
 * {@link classifyPostgresError}, a message naming the operation with secrets redacted, and the
 * native error as `cause`. Sluice errors pass through unchanged.
 */
export function toPortError(error: unknown, context: PortErrorContext): SluiceError {
  if (error instanceof SluiceError) return error
  const classified = classifyPostgresError(error)
  const redact = context.redact ?? createRedactor()
  const native = stringProperty(error, 'message') || String(error)
  const code = classified.nativeCode === undefined ? '' : ` (${classified.nativeCode})`
  return new context.errorClass(
    redact(`${context.operation} failed: ${native}${code} — ${classified.hint}`),
    {
      retryable: classified.retryable,
      code: `${context.codePrefix}.${classified.kind}`,
      component: 'postgres',
      cause: error,
    },
  )
}
