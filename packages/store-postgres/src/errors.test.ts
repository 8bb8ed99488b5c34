import {
  BusError,
  isRetryable,
  JobQueueError,
  RegistryError,
  SinkError,
  SluiceError,
  StorageError,
} from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { classifyPostgresError, createRedactor, redactUrl, toPortError, urlSecrets } from './errors.js'

/** A server error as pg and PGlite raise it: an Error with the SQLSTATE in `code`. */
function serverError(code: string, message = `server said ${code}`) {
  return Object.assign(new Error(message), { code, severity: 'ERROR' })
}

/** A Node socket error. */
function socketError(code: string) {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -111, syscall: 'connect' })
}

describe('classifyPostgresError', () => {
  it.each([
    ['57P01', 'admin_shutdown (pg_terminate_backend)', 'unavailable'],
    ['57P02', 'crash_shutdown', 'unavailable'],
    ['57P03', 'cannot_connect_now (starting up)', 'unavailable'],
    ['08000', 'connection_exception', 'unavailable'],
    ['08003', 'connection_does_not_exist', 'unavailable'],
    ['08006', 'connection_failure', 'unavailable'],
    ['08001', 'sqlclient_unable_to_establish_sqlconnection', 'unavailable'],
    ['53300', 'too_many_connections', 'unavailable'],
    ['53100', 'disk_full', 'unavailable'],
    ['53200', 'out_of_memory', 'unavailable'],
    ['58030', 'io_error', 'unavailable'],
    ['40001', 'serialization_failure', 'conflict'],
    ['40P01', 'deadlock_detected', 'conflict'],
    ['57014', 'query_canceled (statement_timeout)', 'timeout'],
    ['55P03', 'lock_not_available', 'timeout'],
    ['25P03', 'idle_in_transaction_session_timeout', 'timeout'],
  ])('SQLSTATE %s (%s) is retryable: %s', (code, _name, kind) => {
    expect(classifyPostgresError(serverError(code))).toMatchObject({
      kind,
      retryable: true,
      nativeCode: code,
    })
  })

  it.each([
    ['23505', 'unique_violation', 'constraint'],
    ['23503', 'foreign_key_violation', 'constraint'],
    ['23502', 'not_null_violation', 'constraint'],
    ['23514', 'check_violation', 'constraint'],
    ['22P02', 'invalid_text_representation', 'invalid_input'],
    ['22003', 'numeric_value_out_of_range', 'invalid_input'],
    ['22P05', 'untranslatable_character (\\u0000 in jsonb)', 'invalid_input'],
    ['22021', 'character_not_in_repertoire (NUL in text)', 'invalid_input'],
    ['42P01', 'undefined_table', 'not_migrated'],
    ['3F000', 'invalid_schema_name', 'not_migrated'],
    ['28P01', 'invalid_password', 'auth'],
    ['28000', 'invalid_authorization_specification', 'auth'],
    ['3D000', 'invalid_catalog_name (no such database)', 'misconfigured'],
    ['08P01', 'protocol_violation (a bug, not the network)', 'failed'],
    ['42601', 'syntax_error', 'failed'],
    ['XX000', 'internal_error', 'failed'],
  ])('SQLSTATE %s (%s) is not retryable: %s', (code, _name, kind) => {
    expect(classifyPostgresError(serverError(code))).toMatchObject({
      kind,
      retryable: false,
      nativeCode: code,
    })
  })

  it('tells the operator about NUL characters and missing tables', () => {
    expect(classifyPostgresError(serverError('22P05')).hint).toMatch(/NUL/)
    expect(classifyPostgresError(serverError('42P01')).hint).toMatch(/schema dropped\? Restart/)
  })

  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'ENOTFOUND',
  ])('the socket error %s is retryable: unavailable', (code) => {
    expect(classifyPostgresError(socketError(code))).toMatchObject({
      kind: 'unavailable',
      retryable: true,
      nativeCode: code,
    })
  })

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'Query read timeout',
  ])('node-pg’s code-less "%s" is retryable: unavailable', (message) => {
    expect(classifyPostgresError(new Error(message))).toMatchObject({ kind: 'unavailable', retryable: true })
  })

  it('a pool or PGlite used after close is not retryable: closed', () => {
    expect(classifyPostgresError(new Error('Cannot use a pool after calling end on the pool'))).toMatchObject(
      {
        kind: 'closed',
        retryable: false,
      },
    )
    expect(classifyPostgresError(new Error('PGlite is closed'))).toMatchObject({ kind: 'closed' })
  })

  it('anything else is not retryable: failed', () => {
    for (const error of [new TypeError('x is undefined'), 'a string', null, undefined, { code: 42 }]) {
      expect(classifyPostgresError(error)).toMatchObject({ kind: 'failed', retryable: false })
    }
    expect(classifyPostgresError({ code: 'lowercase' })).toMatchObject({ kind: 'failed' })
  })
})

describe('toPortError', () => {
  const context = { errorClass: JobQueueError, codePrefix: 'job-queue', operation: 'job-queue.claim' }

  it('raises the port’s error class with retryable and code from the classification, and the cause', () => {
    const cause = serverError('57P01', 'terminating connection due to administrator command')
    const error = toPortError(cause, context)
    expect(error).toBeInstanceOf(JobQueueError)
    expect(error).toMatchObject({
      retryable: true,
      code: 'job-queue.unavailable',
      component: 'postgres',
      cause,
    })
    expect(isRetryable(error)).toBe(true)
    expect(error.message).toBe(
      '[sluice:postgres] job-queue.claim failed: terminating connection due to administrator command (57P01) — ' +
        'is PostgreSQL running and reachable? Retrying may succeed',
    )
  })

  it.each([
    [StorageError, 'storage', serverError('23505'), 'storage.constraint'],
    [RegistryError, 'registry', serverError('23503'), 'registry.constraint'],
    [SinkError, 'sink', serverError('22P02'), 'sink.invalid_input'],
    [BusError, 'bus', socketError('ECONNREFUSED'), 'bus.unavailable'],
  ] as const)('maps into %o with the port’s code prefix', (errorClass, codePrefix, cause, code) => {
    const error = toPortError(cause, { errorClass, codePrefix, operation: `${codePrefix}.op` })
    expect(error).toBeInstanceOf(errorClass)
    expect(error.code).toBe(code)
  })

  it('passes Sluice errors through unchanged', () => {
    const original = new StorageError('already mapped', { retryable: false, code: 'storage.invalid_json' })
    expect(toPortError(original, context)).toBe(original)
  })

  it('redacts passwords from the message', () => {
    const cause = Object.assign(
      new Error('could not connect to postgres://app:hunter2@db.internal:5432/sluice'),
      {
        code: 'ECONNREFUSED',
      },
    )
    const error = toPortError(cause, { ...context, redact: createRedactor(['hunter2']) })
    expect(error.message).toContain('postgres://app:***@db.internal:5432/sluice')
    expect(error.message).not.toContain('hunter2')
  })
})

describe('redaction', () => {
  it('redactUrl hides the password of a connection url and nothing else', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/sluice?sslmode=require')).toBe(
      'postgres://app:***@db:5432/sluice?sslmode=require',
    )
    expect(redactUrl('postgresql://app:p%40ss%2Fword@db/sluice')).toBe('postgresql://app:***@db/sluice')
    expect(redactUrl('postgres://app@db/sluice')).toBe('postgres://app@db/sluice')
    expect(redactUrl('postgres://db/sluice')).toBe('postgres://db/sluice')
  })

  it('a redactor removes urls’ passwords and the known secrets, raw and decoded, wherever they appear', () => {
    const url = 'postgres://app:p%40ss@db/sluice'
    expect(urlSecrets(url)).toEqual(['p%40ss', 'p@ss'])
    const redact = createRedactor(urlSecrets(url))
    expect(redact(`password authentication failed (p@ss) for ${url}`)).toBe(
      'password authentication failed (***) for postgres://app:***@db/sluice',
    )
    expect(urlSecrets('postgres://app@db/sluice')).toEqual([])
  })

  it('errors of the store name the component in the house format', () => {
    const error = toPortError(serverError('28P01', 'password authentication failed for user "app"'), {
      errorClass: StorageError,
      codePrefix: 'storage',
      operation: 'storage.get',
    })
    expect(error).toBeInstanceOf(SluiceError)
    expect(error.message).toMatch(
      /^\[sluice:postgres\] storage\.get failed: .* — check the user name and password/,
    )
  })
})
