import { PublishError, type ServiceError } from '@google-cloud/pubsub'
import { QueueError, SinkError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { classify, type Endpoint, GrpcStatus, toQueueError, toSinkError } from './errors.js'

const emulator: Endpoint = { address: '127.0.0.1:8085', emulator: true, source: 'PUBSUB_EMULATOR_HOST' }
const cloud: Endpoint = { address: 'pubsub.googleapis.com:443', emulator: false, source: 'default' }

/** A gRPC error the way @google-cloud/pubsub hands it over. */
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} })

describe('classify', () => {
  it.each([
    ['UNAVAILABLE', GrpcStatus.UNAVAILABLE, 'unavailable'],
    ['DEADLINE_EXCEEDED', GrpcStatus.DEADLINE_EXCEEDED, 'timeout'],
    ['RESOURCE_EXHAUSTED', GrpcStatus.RESOURCE_EXHAUSTED, 'resource-exhausted'],
    ['ABORTED', GrpcStatus.ABORTED, 'aborted'],
    ['INTERNAL', GrpcStatus.INTERNAL, 'internal'],
    ['CANCELLED', GrpcStatus.CANCELLED, 'cancelled'],
    ['UNKNOWN', GrpcStatus.UNKNOWN, 'unknown'],
  ])('treats %s as retryable (%s)', (_name, code, kind) => {
    expect(classify(grpcError(code, 'x'), cloud)).toMatchObject({ kind, retryable: true })
  })

  it.each([
    ['NOT_FOUND', GrpcStatus.NOT_FOUND, 'not-found', /createMissing/],
    ['PERMISSION_DENIED', GrpcStatus.PERMISSION_DENIED, 'permission-denied', /roles\/pubsub\.publisher/],
    ['INVALID_ARGUMENT', GrpcStatus.INVALID_ARGUMENT, 'invalid', /rejected the request as invalid/],
    ['UNAUTHENTICATED', GrpcStatus.UNAUTHENTICATED, 'unauthenticated', /GOOGLE_APPLICATION_CREDENTIALS/],
    ['ALREADY_EXISTS', GrpcStatus.ALREADY_EXISTS, 'already-exists', /already exists/],
    ['FAILED_PRECONDITION', GrpcStatus.FAILED_PRECONDITION, 'failed-precondition', /current state/],
    ['UNIMPLEMENTED', GrpcStatus.UNIMPLEMENTED, 'unimplemented', /does not support/],
  ])('treats %s as needing a person (%s)', (_name, code, kind, explanation) => {
    const classification = classify(grpcError(code, 'the details'), cloud)
    expect(classification).toMatchObject({ kind, retryable: false })
    expect(classification.explanation).toMatch(explanation)
    expect(classification.explanation).toContain('the details')
  })

  it('asks whether the emulator runs when it cannot be reached', () => {
    expect(
      classify(grpcError(GrpcStatus.UNAVAILABLE, 'No connection established'), emulator).explanation,
    ).toBe(
      'Pub/Sub at 127.0.0.1:8085 is unreachable — is the Pub/Sub emulator running at 127.0.0.1:8085? (PUBSUB_EMULATOR_HOST)',
    )
    expect(
      classify(grpcError(GrpcStatus.UNAVAILABLE, 'x'), { ...emulator, source: 'apiEndpoint' }).explanation,
    ).toMatch(/\(apiEndpoint\)$/)
    expect(classify(grpcError(GrpcStatus.UNAVAILABLE, 'x'), cloud).explanation).toMatch(/check the network/)
  })

  it('sees an unreachable service behind a DEADLINE_EXCEEDED that gax reports after retrying UNAVAILABLE', () => {
    const error = Object.assign(
      new Error(
        'Total timeout of API google.pubsub.v1.Publisher exceeded 3000 milliseconds retrying error Error: 14 UNAVAILABLE: ' +
          'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:8085.  before any response was received. ' +
          ': Previous errors : [{message: 14 UNAVAILABLE: …}]',
      ),
      { code: GrpcStatus.DEADLINE_EXCEEDED },
    )
    expect(classify(error, emulator)).toMatchObject({ kind: 'unavailable', retryable: true })
    expect(classify(grpcError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded'), emulator)).toMatchObject({
      kind: 'timeout',
      retryable: true,
    })
  })

  it('treats network errors without a gRPC status as unavailable, and anything else as a plain failure', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8085'), { code: 'ECONNREFUSED' })
    expect(classify(refused, emulator)).toMatchObject({ kind: 'unavailable', retryable: true })
    expect(classify(new TypeError('Data must be in the form of a Buffer'), emulator)).toEqual({
      kind: 'failed',
      retryable: false,
      explanation: 'Data must be in the form of a Buffer',
    })
    expect(classify('a string', emulator)).toMatchObject({ kind: 'failed', explanation: 'a string' })
  })

  it('keeps one line of a long native message', () => {
    const error = grpcError(GrpcStatus.INVALID_ARGUMENT, `${'x'.repeat(400)}\nsecond line`)
    const { explanation } = classify(error, cloud)
    expect(explanation).not.toContain('second line')
    expect(explanation.length).toBeLessThan(400)
  })
})

describe('toQueueError and toSinkError', () => {
  it('names the component and the operation, and keeps the native error as the cause', () => {
    const native = grpcError(GrpcStatus.UNAVAILABLE, 'No connection established')
    const error = toQueueError(native, {
      operation: "publish 3 of 3 records to topic 'events'",
      endpoint: emulator,
    })
    expect(error).toBeInstanceOf(QueueError)
    expect(error).toMatchObject({
      code: 'queue.unavailable',
      retryable: true,
      component: 'pubsub',
      cause: native,
    })
    expect(error.message).toBe(
      "[sluice:pubsub] cannot publish 3 of 3 records to topic 'events': Pub/Sub at 127.0.0.1:8085 is unreachable — " +
        'is the Pub/Sub emulator running at 127.0.0.1:8085? (PUBSUB_EMULATOR_HOST)',
    )
    const sinkError = toSinkError(grpcError(GrpcStatus.PERMISSION_DENIED, 'no'), {
      operation: 'publish',
      endpoint: cloud,
    })
    expect(sinkError).toBeInstanceOf(SinkError)
    expect(sinkError).toMatchObject({ code: 'sink.permission-denied', retryable: false })
  })

  it('says that publishing for a paused ordering key was resumed', () => {
    const paused = new PublishError(
      '2:user-1',
      grpcError(GrpcStatus.INTERNAL, 'boom') as unknown as ServiceError,
    )
    const error = toQueueError(paused, { operation: 'publish', endpoint: cloud })
    expect(error).toMatchObject({ code: 'queue.internal', retryable: true })
    expect(error.message).toContain("publishing for ordering key '2:user-1' was paused after this failure")
    expect(toSinkError(paused, { operation: 'publish', endpoint: cloud }).message).toContain(
      'Sluice resumed it',
    )
  })

  it('passes errors that are already in the taxonomy through', () => {
    const queueError = new QueueError('x', { retryable: false, code: 'queue.invalid' })
    expect(toQueueError(queueError, { operation: 'x', endpoint: cloud })).toBe(queueError)
    const sinkError = new SinkError('x', { retryable: false, code: 'sink.invalid' })
    expect(toSinkError(sinkError, { operation: 'x', endpoint: cloud })).toBe(sinkError)
  })
})
