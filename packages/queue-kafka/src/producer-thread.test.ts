import { describe, expect, it } from 'vitest'
import { connect, type KafkaConnectionOptions } from './connection.js'
import { classifyKafkaError } from './errors.js'
import { createProducerSession, type ProducerSession } from './producer.js'
import { createThreadedProducerSession } from './producer-thread.js'

const unreachable: KafkaConnectionOptions = {
  brokers: '127.0.0.1:1',
  logLevel: 'nothing',
  retries: 0,
  connectionTimeoutMs: 200,
}
const connectionFor = (options: KafkaConnectionOptions) => connect(options, (message) => new Error(message))

/** What a session's failed send looks like to the package's error classification. */
async function failedSend(send: () => Promise<void>) {
  const error = await send().then(
    () => {
      throw new Error('the send should have failed')
    },
    (rejection: unknown) => rejection,
  )
  return { error: error as Error & { stack?: string }, failure: classifyKafkaError(error, ['127.0.0.1:1']) }
}

describe('createThreadedProducerSession', () => {
  it("fails a send as the in-thread producer does: kafkajs's error reaches the caller classifiable", async () => {
    const threaded = createThreadedProducerSession(unreachable, connectionFor(unreachable))
    const inThread = createProducerSession(connectionFor(unreachable), unreachable)
    try {
      const fromThread = await failedSend(() => threaded.send('t', [{ key: 'k', value: 'v' }]))
      const fromHere = await failedSend(() => inThread.send('t', [{ key: 'k', value: 'v' }]))
      expect(fromThread.failure).toEqual(fromHere.failure)
      expect(fromThread.failure).toMatchObject({ kind: 'unavailable', retryable: true })
      expect(fromThread.error.name).toBe(fromHere.error.name)
    } finally {
      await Promise.all([threaded.close(), inThread.close()])
    }
  })

  it('keeps the producer off the calling thread: kafkajs logs from another one', async () => {
    // At level error kafkajs logs the refused connection, through console.error of its own thread.
    const options: KafkaConnectionOptions = { ...unreachable, logLevel: 'error' }
    const loggedHere = async (session: ProducerSession) => {
      let logged = false
      const original = console.error
      console.error = () => {
        logged = true
      }
      try {
        await failedSend(() => session.send('t', [{ key: null, value: 'v' }]))
      } finally {
        console.error = original
        await session.close()
      }
      return logged
    }
    expect(await loggedHere(createProducerSession(connectionFor(options), options))).toBe(true)
    expect(await loggedHere(createThreadedProducerSession(options, connectionFor(options)))).toBe(false)
  })

  it('runs in-thread when the options hold a function that cannot cross threads', async () => {
    const options: KafkaConnectionOptions = {
      ...unreachable,
      sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: 'token' }) },
    }
    const session = createThreadedProducerSession(options, connectionFor(options))
    const { failure } = await failedSend(() => session.send('t', [{ key: null, value: 'v' }]))
    await session.close()
    expect(failure.retryable).toBe(true)
  })

  it('closes without a thread, and starts a new one for a send after a close', async () => {
    const session = createThreadedProducerSession(unreachable, connectionFor(unreachable))
    await session.close()
    await session.send('t', [])
    const first = await failedSend(() => session.send('t', [{ key: null, value: 'v' }]))
    await session.close()
    const second = await failedSend(() => session.send('t', [{ key: null, value: 'v' }]))
    await session.close()
    expect(second.failure).toEqual(first.failure)
  })
})
