import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { connectionOptions, type KafkaConnection, type KafkaConnectionOptions } from './connection.js'
import { createProducerSession, type OutgoingRecord, type ProducerSession } from './producer.js'

/** What the producer thread reports of a kafkajs error: the fields its classification reads. */
export interface ErrorShape {
  name?: string
  message?: string
  type?: string
  broker?: string
  retriable?: boolean
  originalError?: ErrorShape
  cause?: ErrorShape
  errors?: ErrorShape[]
}

/** A message to the producer thread. */
export type ProducerRequest =
  | { kind: 'send'; id: number; topic: string; records: readonly OutgoingRecord[] }
  | { kind: 'close' }

/** A message from the producer thread. */
export type ProducerReply = { kind: 'sent'; id: number; error?: ErrorShape } | { kind: 'closed' }

/** An error of the producer thread, carrying the fields of the kafkajs error it stands for. */
function fromShape(shape: ErrorShape): Error {
  const { message, originalError, cause, errors, ...fields } = shape
  return Object.assign(new Error(message ?? ''), fields, {
    ...(originalError ? { originalError: fromShape(originalError) } : {}),
    ...(cause ? { cause: fromShape(cause) } : {}),
    ...(errors ? { errors: errors.map(fromShape) } : {}),
  })
}

// Run from TypeScript source (the repository's tests and `pnpm start`), the thread needs the same
// loader as this one: tsx, and workspace packages resolved to their source.
const fromSource = import.meta.url.endsWith('.ts')
const workerEntry = new URL(fromSource ? './producer-worker.ts' : './producer-worker.js', import.meta.url)
const sourceExecArgv = () => [
  '--import',
  pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
  '--conditions=sluice-source',
]

/** Whether `options` can be copied to another thread (an OAuth provider function, say, cannot). */
function copyable(options: KafkaConnectionOptions): boolean {
  try {
    structuredClone(options)
    return true
  } catch {
    return false
  }
}

/**
 * A {@link ProducerSession} whose producer runs in a worker thread of its own, started on
 * the first send: encoding and checksumming records leaves the caller's thread, which only copies
 * the records' strings across. Sends behave as in-thread ones, kafkajs errors included. With
 * options that cannot cross threads (functions in `sasl` or `ssl`), the producer runs in-thread.
 * If the thread dies, its sends fail as retryable and the next send starts a new one.
 */
export function createThreadedProducerSession(
  options: KafkaConnectionOptions,
  connection: KafkaConnection,
): ProducerSession {
  const threadOptions = connectionOptions(options)
  if (!copyable(threadOptions)) return createProducerSession(connection, options)
  let worker: Worker | undefined
  let closing: Promise<void> | undefined
  let nextId = 0
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()

  const failPending = (error: Error) => {
    for (const { reject } of pending.values()) reject(error)
    pending.clear()
  }

  const started = (): Worker => {
    if (worker) return worker
    const thread = new Worker(workerEntry, {
      workerData: threadOptions,
      ...(fromSource ? { execArgv: sourceExecArgv() } : {}),
    })
    thread.on('message', (reply: ProducerReply) => {
      if (reply.kind !== 'sent') return
      const waiting = pending.get(reply.id)
      pending.delete(reply.id)
      if (reply.error) waiting?.reject(fromShape(reply.error))
      else waiting?.resolve()
    })
    thread.on('error', (error) => {
      failPending(
        Object.assign(new Error(`the Kafka producer thread failed: ${error.message}`), {
          name: 'KafkaJSError',
          retriable: true,
        }),
      )
    })
    thread.on('exit', () => {
      if (worker === thread) worker = undefined
      failPending(
        Object.assign(new Error('the Kafka producer thread stopped'), {
          name: 'KafkaJSError',
          retriable: true,
        }),
      )
    })
    worker = thread
    return thread
  }

  return {
    send(topic, records) {
      if (records.length === 0) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        started().postMessage({ kind: 'send', id, topic, records } satisfies ProducerRequest)
      })
    },
    close() {
      const thread = worker
      if (!thread) return Promise.resolve()
      closing ??= new Promise<void>((resolve) => {
        thread.once('exit', () => resolve())
        thread.postMessage({ kind: 'close' } satisfies ProducerRequest)
      }).finally(() => {
        closing = undefined
      })
      return closing
    },
  }
}
