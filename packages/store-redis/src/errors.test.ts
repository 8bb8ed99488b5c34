import { BusError, CacheError, LockError } from '@sluice/core'
import { ReplyError } from 'ioredis'
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js'
import { describe, expect, it } from 'vitest'
import { classifyRedisError, describeEndpoint, redactSecrets, redactUrl, toPortError } from './errors.js'

const context = { operation: 'incr @plugin/1/2/n', endpoint: '127.0.0.1:6379' }

function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' })
}

describe('classifyRedisError', () => {
  it.each([
    ['ECONNREFUSED', nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379')],
    ['ECONNRESET', nodeError('ECONNRESET', 'read ECONNRESET')],
    ['ETIMEDOUT', nodeError('ETIMEDOUT', 'connect ETIMEDOUT')],
    ['ENOTFOUND', nodeError('ENOTFOUND', 'getaddrinfo ENOTFOUND redis')],
    ['EPIPE', nodeError('EPIPE', 'write EPIPE')],
    ['MaxRetriesPerRequestError', new MaxRetriesPerRequestError(20)],
    ['a closed connection', new Error('Connection is closed.')],
    ['no offline queue', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
  ])('%s is unavailable and retryable', (_, error) => {
    expect(classifyRedisError(error)).toEqual({ failure: 'unavailable', retryable: true })
  })

  it.each([
    ['Command timed out', new Error('Command timed out'), 'timeout'],
    ['LOADING', new ReplyError('LOADING Redis is loading the dataset in memory'), 'loading'],
    ['READONLY', new ReplyError("READONLY You can't write against a read only replica."), 'read_only'],
  ])('%s is retryable (%s)', (_, error, failure) => {
    expect(classifyRedisError(error)).toEqual({ failure, retryable: true })
  })

  it.each([
    ['NOAUTH', new ReplyError('NOAUTH Authentication required.'), 'auth'],
    ['WRONGPASS', new ReplyError('WRONGPASS invalid username-password pair or user is disabled.'), 'auth'],
    [
      'WRONGTYPE',
      new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
      'wrong_type',
    ],
    ['not an integer', new ReplyError('ERR value is not an integer or out of range'), 'not_an_integer'],
    ['overflow', new ReplyError('ERR increment or decrement would overflow'), 'overflow'],
    ['unknown command', new ReplyError("ERR unknown command 'FOO'"), 'command_failed'],
    ['a thrown string', 'boom', 'command_failed'],
  ])('%s is not retryable (%s)', (_, error, failure) => {
    expect(classifyRedisError(error)).toEqual({ failure, retryable: false })
  })
})

describe('toPortError', () => {
  it('maps to the port’s error class with a <port>.<failure> code and keeps the cause', () => {
    const cause = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')
    const error = toPortError(cause, 'cache', context)
    expect(error).toBeInstanceOf(CacheError)
    expect(error).toMatchObject({ code: 'cache.wrong_type', retryable: false, cause })
    expect(error.message).toMatch(/^\[sluice:cache\] incr @plugin\/1\/2\/n: the key holds another type/)
    expect(toPortError(cause, 'lock', context)).toBeInstanceOf(LockError)
    expect(toPortError(cause, 'bus', context)).toBeInstanceOf(BusError)
  })

  it('says where Redis should be and which setting names it when it is unreachable', () => {
    const refused = toPortError(
      nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379'),
      'cache',
      context,
    )
    expect(refused).toMatchObject({ code: 'cache.unavailable', retryable: true })
    expect(refused.message).toBe(
      '[sluice:cache] incr @plugin/1/2/n: Redis at 127.0.0.1:6379 is unreachable ' +
        '(connect ECONNREFUSED 127.0.0.1:6379) — is Redis running at 127.0.0.1:6379? (REDIS_URL)',
    )
    const retries = toPortError(new MaxRetriesPerRequestError(20), 'lock', {
      ...context,
      operation: 'acquire l',
    })
    expect(retries).toMatchObject({ code: 'lock.unavailable', retryable: true })
    expect(retries.message).toContain('is Redis running at 127.0.0.1:6379? (REDIS_URL)')
  })

  it('tells the operator to fix the credentials, without repeating them', () => {
    const error = toPortError(new ReplyError('WRONGPASS invalid username-password pair'), 'bus', context)
    expect(error).toMatchObject({ code: 'bus.auth', retryable: false })
    expect(error.message).toContain('check the user and password in REDIS_URL')
  })

  it('redacts a password that a native message carries', () => {
    const error = toPortError(new Error('cannot parse redis://app:hunter2@cache:6379/0'), 'cache', context)
    expect(error.message).not.toContain('hunter2')
    expect(error.message).toContain('redis://app:***@cache:6379/0')
  })

  it('passes Sluice errors through unchanged', () => {
    const original = new LockError('x', { retryable: true, code: 'lock.timeout' })
    expect(toPortError(original, 'lock', context)).toBe(original)
  })
})

describe('redaction', () => {
  it.each([
    ['redis://app:s3cret@cache:6379/0', 'redis://app:***@cache:6379/0'],
    ['rediss://:s3cret@cache.example.com:6380', 'rediss://:***@cache.example.com:6380'],
    ['redis://s3cret@cache:6379', 'redis://***@cache:6379'],
    ['redis://cache:6379', 'redis://cache:6379'],
    ['not a url app:s3cret@x', 'not a url app:s3cret@x'],
  ])('redactUrl(%s)', (url, expected) => {
    expect(redactUrl(url)).toBe(expected)
  })

  it('redactSecrets replaces every URL password in a text', () => {
    expect(redactSecrets('a redis://u:p1@h1 b REDIS://:p2@h2:1/2')).toBe(
      'a redis://u:***@h1 b REDIS://:***@h2:1/2',
    )
  })
})

describe('describeEndpoint', () => {
  it('is host:port, a bracketed IPv6 host, or the socket path', () => {
    expect(describeEndpoint({ host: 'cache', port: 6380 })).toBe('cache:6380')
    expect(describeEndpoint({ host: '::1', port: 6379 })).toBe('[::1]:6379')
    expect(describeEndpoint({ path: '/run/redis.sock', host: 'x' })).toBe('/run/redis.sock')
    expect(describeEndpoint({})).toBe('127.0.0.1:6379')
  })
})
