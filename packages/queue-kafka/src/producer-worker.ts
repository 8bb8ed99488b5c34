// The producer thread of `createThreadedProducerSession`: one producer session, fed by the thread
// that started it, so encoding and sending records stays off the consumer's thread.
import { parentPort, workerData } from 'node:worker_threads'
import { connect, type KafkaConnectionOptions } from './connection.js'
import { createProducerSession } from './producer.js'
import type { ErrorShape, ProducerReply, ProducerRequest } from './producer-thread.js'

/** The fields `classifyKafkaError` reads, copied through kafkajs's wrappers (it nests at most a few). */
function shapeOf(error: unknown, depth = 0): ErrorShape {
  if (typeof error !== 'object' || error === null) return { message: String(error) }
  const source = error as Record<string, unknown>
  const shape: ErrorShape = {}
  for (const field of ['name', 'message', 'type', 'broker'] as const) {
    if (typeof source[field] === 'string') shape[field] = source[field]
  }
  if (typeof source.retriable === 'boolean') shape.retriable = source.retriable
  if (depth < 10) {
    if (source.originalError != null) shape.originalError = shapeOf(source.originalError, depth + 1)
    else if (source.cause != null) shape.cause = shapeOf(source.cause, depth + 1)
    if (Array.isArray(source.errors) && source.errors.length > 0) {
      shape.errors = [shapeOf(source.errors[0], depth + 1)]
    }
  }
  return shape
}

const port = parentPort
if (!port) throw new Error('producer-worker runs as a worker thread of createThreadedProducerSession')
// Options were validated by the thread that started this one.
const options = workerData as KafkaConnectionOptions
const session = createProducerSession(
  connect(options, (message) => new Error(message)),
  options,
)
const reply = (message: ProducerReply) => port.postMessage(message)

port.on('message', (request: ProducerRequest) => {
  if (request.kind === 'close') {
    void session.close().finally(() => {
      reply({ kind: 'closed' })
      port.close()
    })
    return
  }
  session.send(request.topic, request.records).then(
    () => reply({ kind: 'sent', id: request.id }),
    (error: unknown) => reply({ kind: 'sent', id: request.id, error: shapeOf(error) }),
  )
})
