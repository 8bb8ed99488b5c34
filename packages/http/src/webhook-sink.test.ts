import { type ProcessedPluginEvent, SinkError } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Answer,
  closedPort,
  type ReceivedRequest,
  type RecordingServer,
  startRecordingServer,
} from '../test/recording-server.js'
import { createWebhookSink, type WebhookSinkOptions } from './index.js'

const TOKEN = 'tok_9f8e7d6c5b4a3210'
const SECRET_PATH = '/hooks/T0001/B0002/pathSecretXYZ'
const SECRET_QUERY = 'signature=querySecretABC'

const servers: RecordingServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function serve(answer?: (request: ReceivedRequest, index: number) => Answer | Promise<Answer>) {
  const server = await startRecordingServer(answer)
  servers.push(server)
  return server
}

function sinkFor(server: RecordingServer, options: Partial<WebhookSinkOptions> = {}) {
  return createWebhookSink({
    url: `${server.origin}${SECRET_PATH}?${SECRET_QUERY}`,
    headers: { Authorization: `Bearer ${TOKEN}`, 'X-Team': 'analytics' },
    ...options,
  })
}

function event(n: number): ProcessedPluginEvent {
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    distinct_id: 'user',
    ip: '203.0.113.9',
    team_id: 2,
    event: `event ${n}`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    properties: { n },
    $set: { plan: 'pro' },
  }
}

async function rejection(promise: Promise<unknown>): Promise<SinkError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the write to reject')
    },
    (error: unknown) => error,
  )
  expect(error).toBeInstanceOf(SinkError)
  return error as SinkError
}

function expectNoSecrets(error: SinkError) {
  for (const secret of [TOKEN, SECRET_PATH, 'pathSecretXYZ', SECRET_QUERY, 'querySecretABC']) {
    expect(error.message).not.toContain(secret)
  }
}

describe('createWebhookSink', () => {
  it('POSTs the events as a JSON array with the configured headers', async () => {
    const server = await serve()
    const events = [event(1), event(2)]
    await sinkFor(server).write(events)

    expect(server.requests).toHaveLength(1)
    const [request] = server.requests as [ReceivedRequest]
    expect(request.method).toBe('POST')
    expect(request.url).toBe(`${SECRET_PATH}?${SECRET_QUERY}`)
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(request.headers['x-team']).toBe('analytics')
    expect(request.headers['content-encoding']).toBeUndefined()
    expect(JSON.parse(request.body.toString('utf8'))).toEqual(events)
  })

  it('is named webhook:<origin>, without the path or query', async () => {
    const server = await serve()
    expect(sinkFor(server).name).toBe(`webhook:${server.origin}`)
  })

  it('sends at most maxEventsPerRequest per request, one request at a time, in order', async () => {
    const server = await serve(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      return { status: 204 }
    })
    const events = Array.from({ length: 5 }, (_, n) => event(n))
    await sinkFor(server, { maxEventsPerRequest: 2 }).write(events)

    const batches = server.requests.map(
      (request) => JSON.parse(request.body.toString('utf8')) as ProcessedPluginEvent[],
    )
    expect(batches.map((batch) => batch.length)).toEqual([2, 2, 1])
    expect(batches.flat()).toEqual(events)
    expect(server.maxConcurrent).toBe(1)
  })

  it('rejects with a retryable SinkError on 5xx, without the header value, path or query even when echoed', async () => {
    const server = await serve((request) => ({
      status: 500,
      body: `upstream failed for ${request.headers.authorization} at ${request.url}`,
    }))
    const error = await rejection(sinkFor(server).write([event(1)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`webhook:${server.origin}`)
    expect(error.message).toContain('answered 500')
    expect(error.message).toContain('upstream failed for ***')
    expectNoSecrets(error)
  })

  it('rejects with a non-retryable SinkError carrying the reason on 404', async () => {
    const server = await serve(() => ({ status: 404, body: JSON.stringify({ message: 'no such hook' }) }))
    const error = await rejection(sinkFor(server).write([event(1)]))
    expect(error.retryable).toBe(false)
    expect(error.code).toBe('sink.refused')
    expect(error.message).toContain('answered 404 Not Found')
    expect(error.message).toContain('no such hook')
    expectNoSecrets(error)
  })

  it('rejects with a retryable SinkError naming only the origin when the connection is refused', async () => {
    const port = await closedPort()
    const sink = createWebhookSink({
      url: `http://127.0.0.1:${port}${SECRET_PATH}?${SECRET_QUERY}`,
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    const error = await rejection(sink.write([event(1)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`POST http://127.0.0.1:${port}:`)
    expectNoSecrets(error)
  })

  it('keeps credentials in the URL out of the name and errors', async () => {
    const server = await serve(() => ({ status: 403, body: 'denied for user:urlPassword99' }))
    const url = new URL(server.origin)
    url.username = 'user'
    url.password = 'urlPassword99'
    const sink = createWebhookSink({ url: url.href })
    expect(sink.name).toBe(`webhook:${server.origin}`)
    const error = await rejection(sink.write([event(1)]))
    expect(server.requests[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('user:urlPassword99').toString('base64')}`,
    )
    expect(error.message).not.toContain('urlPassword99')
    expect(error.message).toContain("check the sink's headers")
  })

  it('throws a SinkError naming an invalid header without echoing its value', () => {
    const create = () =>
      createWebhookSink({
        url: 'https://hooks.example.com/x',
        headers: { authorization: `Bearer ${TOKEN}\r\nX: y` },
      })
    expect(create).toThrow(SinkError)
    expect(create).toThrow(/headers\['authorization'\] is not a valid HTTP header/)
    try {
      create()
    } catch (error) {
      expect((error as Error).message).not.toContain(TOKEN)
    }
  })

  it('throws a SinkError for a URL that is not http(s), without echoing it', () => {
    const create = () => createWebhookSink({ url: `file:///etc/${TOKEN}` })
    expect(create).toThrow(/url must be an http: or https: URL, not file:/)
    expect(() => createWebhookSink({ url: `not a url ${TOKEN}` })).toThrow(
      /^(?!.*tok_).*url is not a valid absolute URL/,
    )
  })
})
