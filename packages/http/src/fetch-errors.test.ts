import { FetchError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { describeTarget, mapRequestError } from './fetch-errors.js'

function nodeError(code: string, message = `${code} from node`): Error {
  return Object.assign(new Error(message), { code })
}

describe('mapRequestError', () => {
  it.each([
    ['ENOTFOUND', 'fetch.dns_failed', true],
    ['EAI_AGAIN', 'fetch.dns_failed', true],
    ['EAI_FAIL', 'fetch.dns_failed', true],
    ['ECONNREFUSED', 'fetch.connection_failed', true],
    ['ECONNRESET', 'fetch.connection_failed', true],
    ['EPIPE', 'fetch.connection_failed', true],
    ['ETIMEDOUT', 'fetch.connection_failed', true],
    ['EHOSTUNREACH', 'fetch.connection_failed', true],
    ['ENETUNREACH', 'fetch.connection_failed', true],
    ['ERR_INVALID_CHAR', 'fetch.invalid_request', false],
    ['ERR_INVALID_HTTP_TOKEN', 'fetch.invalid_request', false],
    ['ERR_HTTP_INVALID_HEADER_VALUE', 'fetch.invalid_request', false],
    ['ERR_UNESCAPED_CHARACTERS', 'fetch.invalid_request', false],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'fetch.tls_failed', false],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'fetch.tls_failed', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'fetch.tls_failed', false],
    ['CERT_HAS_EXPIRED', 'fetch.tls_failed', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'fetch.tls_failed', false],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'fetch.tls_failed', false],
    ['EPROTO', 'fetch.tls_failed', false],
    ['HPE_INVALID_CONSTANT', 'fetch.invalid_response', false],
    ['HPE_HEADER_OVERFLOW', 'fetch.invalid_response', false],
    ['ESOMETHINGNEW', 'fetch.failed', true],
  ])('maps %s to %s (retryable: %s)', (code, expected, retryable) => {
    const cause = nodeError(code)
    const error = mapRequestError(cause, 'GET https://example.com/')
    expect(error).toBeInstanceOf(FetchError)
    expect(error).toMatchObject({ code: expected, retryable, component: 'fetch', cause })
    expect(error.message).toMatch(/^\[sluice:fetch\] GET https:\/\/example\.com\/: /)
    expect(error.message).toContain(code)
  })

  it('maps errors without a code, and thrown non-errors, to a retryable failure', () => {
    expect(mapRequestError(new Error('socket went away'), 'GET http://a.example/')).toMatchObject({
      code: 'fetch.failed',
      retryable: true,
      message: '[sluice:fetch] GET http://a.example/: the request failed (socket went away)',
    })
    expect(mapRequestError('odd', 'GET http://a.example/')).toMatchObject({ code: 'fetch.failed' })
  })

  it('does not repeat a code the message already names', () => {
    const error = mapRequestError(
      nodeError('ECONNREFUSED', 'connect ECONNREFUSED 1.2.3.4:80'),
      'GET http://x/',
    )
    expect(error.message).toBe(
      '[sluice:fetch] GET http://x/: the connection failed (connect ECONNREFUSED 1.2.3.4:80) — is the server up?',
    )
  })

  it('passes a FetchError through unchanged', () => {
    const original = new FetchError('timed out', { retryable: true, code: 'fetch.timeout' })
    expect(mapRequestError(original, 'GET http://x/')).toBe(original)
  })
})

describe('describeTarget', () => {
  it('leaves credentials, query and fragment out, since they may hold secrets', () => {
    expect(describeTarget('POST', new URL('https://user:secret@hooks.example:8443/a/b?api_key=k#frag'))).toBe(
      'POST https://hooks.example:8443/a/b',
    )
  })
})
