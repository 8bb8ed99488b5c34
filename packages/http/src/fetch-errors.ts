import { FetchError } from '@sluice/core'

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME'])

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
])

/** Node's errors for a request it refuses to send: bad header names or values, a bad method. */
const INVALID_REQUEST_CODES = new Set([
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_UNESCAPED_CHARACTERS',
])

/** Certificate verification failures as OpenSSL names them, and TLS protocol errors (EPROTO). */
const TLS_CODE_PATTERN =
  /^(EPROTO$|ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|HOSTNAME_MISMATCH)/

/**
 * Maps an error from `node:http`, `node:https` or the resolver to a {@link FetchError}. Network
 * trouble (refused, reset, unreachable, DNS) is retryable; a request Node refuses to send, a TLS
 * verification failure or a malformed response is not, since trying again changes nothing.
 * Errors that are already a `FetchError` pass through.
 * @param target what was being fetched, as {@link describeTarget} writes it
 */
export function mapRequestError(error: unknown, target: string): FetchError {
  if (error instanceof FetchError) return error
  const code = errorCode(error)
  const detail = describeCause(error, code)
  if (DNS_CODES.has(code)) {
    return new FetchError(`${target}: the host name could not be resolved (${detail})`, {
      retryable: true,
      code: 'fetch.dns_failed',
      cause: error,
    })
  }
  if (CONNECTION_CODES.has(code)) {
    const hint = code === 'ECONNREFUSED' ? ' — is the server up?' : ''
    return new FetchError(`${target}: the connection failed (${detail})${hint}`, {
      retryable: true,
      code: 'fetch.connection_failed',
      cause: error,
    })
  }
  if (INVALID_REQUEST_CODES.has(code)) {
    return new FetchError(`${target}: the request is invalid (${detail})`, {
      retryable: false,
      code: 'fetch.invalid_request',
      cause: error,
    })
  }
  if (TLS_CODE_PATTERN.test(code)) {
    return new FetchError(`${target}: the TLS handshake failed (${detail})`, {
      retryable: false,
      code: 'fetch.tls_failed',
      cause: error,
    })
  }
  if (code.startsWith('HPE_')) {
    return new FetchError(`${target}: the server sent a malformed HTTP response (${detail})`, {
      retryable: false,
      code: 'fetch.invalid_response',
      cause: error,
    })
  }
  // Anything else came from the network layer mid-request; another try may well succeed.
  return new FetchError(`${target}: the request failed (${detail})`, {
    retryable: true,
    code: 'fetch.failed',
    cause: error,
  })
}

/**
 * How errors name a request: method, then the URL without credentials, query or fragment, which
 * may carry secrets (API keys often travel in the query).
 * @example describeTarget('POST', new URL('https://u:p@hooks.example/x?key=1')) // 'POST https://hooks.example/x'
 */
export function describeTarget(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`
}

function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return ''
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : ''
}

function describeCause(error: unknown, code: string): string {
  const message = error instanceof Error ? error.message : String(error)
  if (!code || message.includes(code)) return message
  return `${code}: ${message}`
}
