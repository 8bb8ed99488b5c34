import { QueueError, SinkError } from '@sluice/core'

/** The component every error of this package names: `[sluice:pubsub] …`. */
export const COMPONENT = 'pubsub'

/** gRPC status codes (the numbers `@google-cloud/pubsub` errors carry in `code`). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

/** Where the client talks to, for error messages. */
export interface Endpoint {
  /** `host:port`, never with credentials. */
  address: string
  /** Whether this is an emulator (no TLS, no credentials). */
  emulator: boolean
  /** Where the address came from, named in hints: `PUBSUB_EMULATOR_HOST`, `apiEndpoint`, or `default`. */
  source: 'PUBSUB_EMULATOR_HOST' | 'apiEndpoint' | 'default'
}

/** What a failed operation was doing, e.g. `publish to topic 'events'`. */
export interface ErrorContext {
  operation: string
  endpoint: Endpoint
}

/** A native error sorted into the taxonomy: the stable code suffix, retryability and what to say. */
export interface Classification {
  /** Code suffix: `unavailable`, `not-found`, … (prefixed with `queue.` or `sink.`). */
  kind: string
  retryable: boolean
  /** One sentence: what went wrong and what to do. */
  explanation: string
}

/** The gRPC status of `error`, if it carries one (gax `GoogleError`, grpc-js `StatusError`, `PublishError`). */
export function grpcStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as { code?: unknown }).code
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16 ? code : undefined
}

/** The ordering key whose publishing the client paused after this failure (`PublishError`), if any. */
export function pausedOrderingKey(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const key = (error as { orderingKey?: unknown }).orderingKey
  return typeof key === 'string' && key.length > 0 ? key : undefined
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EPIPE',
])

function looksUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true
  const message = String((error as { message?: unknown }).message ?? '')
  // gax reports a retried UNAVAILABLE that ran out of time as DEADLINE_EXCEEDED, keeping the
  // earlier errors only in the message.
  return /\b14 UNAVAILABLE\b|ECONNREFUSED|No connection established/.test(message)
}

function unreachable(endpoint: Endpoint): string {
  if (endpoint.emulator) {
    return (
      `Pub/Sub at ${endpoint.address} is unreachable — is the Pub/Sub emulator running at ` +
      `${endpoint.address}? (${endpoint.source === 'apiEndpoint' ? 'apiEndpoint' : 'PUBSUB_EMULATOR_HOST'})`
    )
  }
  return `Pub/Sub at ${endpoint.address} is unreachable — check the network and the apiEndpoint option`
}

/** The native error's own words, trimmed to one line (gax appends every retried error). */
export function nativeDetail(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error)
  const details = (error as { details?: unknown }).details
  const message = (error as { message?: unknown }).message
  const text = typeof details === 'string' && details.length > 0 ? details : String(message ?? error)
  const firstLine = text.split('\n')[0] ?? text
  const cut = firstLine.indexOf(' : Previous errors')
  const short = cut >= 0 ? firstLine.slice(0, cut) : firstLine
  return short.length > 300 ? `${short.slice(0, 300)}…` : short
}

/**
 * Sorts a native `@google-cloud/pubsub` / gRPC error into the taxonomy. Retryable are the codes
 * Google's own publisher retries (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
 * INTERNAL, CANCELLED, UNKNOWN) and plain network errors; the rest need a person to act.
 */
export function classify(error: unknown, endpoint: Endpoint): Classification {
  const status = grpcStatus(error)
  const detail = nativeDetail(error)
  if (status === undefined) {
    if (looksUnreachable(error))
      return { kind: 'unavailable', retryable: true, explanation: unreachable(endpoint) }
    return { kind: 'failed', retryable: false, explanation: detail }
  }
  switch (status) {
    case GrpcStatus.UNAVAILABLE:
      return { kind: 'unavailable', retryable: true, explanation: unreachable(endpoint) }
    case GrpcStatus.DEADLINE_EXCEEDED:
      return looksUnreachable(error)
        ? { kind: 'unavailable', retryable: true, explanation: unreachable(endpoint) }
        : {
            kind: 'timeout',
            retryable: true,
            explanation: `Pub/Sub at ${endpoint.address} did not answer in time (${detail}) — retry, or raise timeoutMs`,
          }
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return {
        kind: 'resource-exhausted',
        retryable: true,
        explanation: `Pub/Sub quota or flow control limit reached (${detail}) — retry later, or raise the quota`,
      }
    case GrpcStatus.ABORTED:
      return {
        kind: 'aborted',
        retryable: true,
        explanation: `Pub/Sub aborted the request (${detail}) — retry`,
      }
    case GrpcStatus.INTERNAL:
      return {
        kind: 'internal',
        retryable: true,
        explanation: `Pub/Sub failed internally (${detail}) — retry`,
      }
    case GrpcStatus.CANCELLED:
      return {
        kind: 'cancelled',
        retryable: true,
        explanation: `the request was cancelled (${detail}) — the client may be closing; retry on a new one`,
      }
    case GrpcStatus.UNKNOWN:
      return { kind: 'unknown', retryable: true, explanation: `Pub/Sub failed (${detail}) — retry` }
    case GrpcStatus.NOT_FOUND:
      return {
        kind: 'not-found',
        retryable: false,
        explanation:
          `the topic or subscription does not exist (${detail}) — create it, or let Sluice create it ` +
          '(createMissing: true)',
      }
    case GrpcStatus.ALREADY_EXISTS:
      return {
        kind: 'already-exists',
        retryable: false,
        explanation: `the topic or subscription already exists (${detail})`,
      }
    case GrpcStatus.PERMISSION_DENIED:
      return {
        kind: 'permission-denied',
        retryable: false,
        explanation:
          `the credentials may not do this (${detail}) — grant roles/pubsub.publisher and ` +
          'roles/pubsub.subscriber (roles/pubsub.editor to create topics and subscriptions), or create them ' +
          'yourself and set createMissing: false',
      }
    case GrpcStatus.UNAUTHENTICATED:
      return {
        kind: 'unauthenticated',
        retryable: false,
        explanation:
          `no valid Google credentials (${detail}) — set GOOGLE_APPLICATION_CREDENTIALS, or ` +
          'PUBSUB_EMULATOR_HOST to use the emulator',
      }
    case GrpcStatus.INVALID_ARGUMENT:
      return {
        kind: 'invalid',
        retryable: false,
        explanation: `Pub/Sub rejected the request as invalid (${detail})`,
      }
    case GrpcStatus.FAILED_PRECONDITION:
      return {
        kind: 'failed-precondition',
        retryable: false,
        explanation: `Pub/Sub refused the request in the resource's current state (${detail})`,
      }
    case GrpcStatus.UNIMPLEMENTED:
      return {
        kind: 'unimplemented',
        retryable: false,
        explanation: `this Pub/Sub endpoint does not support the request (${detail})`,
      }
    default:
      return { kind: 'failed', retryable: false, explanation: detail }
  }
}

function pausedNote(error: unknown): string {
  const key = pausedOrderingKey(error)
  return key === undefined
    ? ''
    : ` (publishing for ordering key '${key}' was paused after this failure; Sluice resumed it, so a retry publishes in order again)`
}

/** Maps a native error into a `QueueError` (`queue.<kind>`), naming what was being done. */
export function toQueueError(error: unknown, context: ErrorContext): QueueError {
  if (error instanceof QueueError) return error
  const { kind, retryable, explanation } = classify(error, context.endpoint)
  return new QueueError(`cannot ${context.operation}: ${explanation}${pausedNote(error)}`, {
    retryable,
    code: `queue.${kind}`,
    component: COMPONENT,
    cause: error,
  })
}

/** Maps a native error into a `SinkError` (`sink.<kind>`), naming what was being done. */
export function toSinkError(error: unknown, context: ErrorContext): SinkError {
  if (error instanceof SinkError) return error
  const { kind, retryable, explanation } = classify(error, context.endpoint)
  return new SinkError(`cannot ${context.operation}: ${explanation}${pausedNote(error)}`, {
    retryable,
    code: `sink.${kind}`,
    component: COMPONENT,
    cause: error,
  })
}
