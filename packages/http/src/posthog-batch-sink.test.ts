import { gunzipSync } from 'node:zlib'
import { type ProcessedPluginEvent, SinkError } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Answer,
  closedPort,
  type ReceivedRequest,
  type RecordingServer,
  startRecordingServer,
} from '../test/recording-server.js'
import { createPostHogBatchSink, type PostHogBatchSinkOptions } from './index.js'

const API_KEY = 'phc_secretProjectKey1234567890'

const servers: RecordingServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function serve(answer?: (request: ReceivedRequest, index: number) => Answer | Promise<Answer>) {
  const server = await startRecordingServer(answer)
  servers.push(server)
  return server
}

function sinkFor(server: RecordingServer, options: Partial<PostHogBatchSinkOptions> = {}) {
  return createPostHogBatchSink({ host: server.origin, apiKey: API_KEY, ...options })
}

function event(n: number, extra: Partial<ProcessedPluginEvent> = {}): ProcessedPluginEvent {
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    distinct_id: `user-${n % 3}`,
    ip: null,
    team_id: 2,
    event: `event ${n}`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    properties: { n },
    ...extra,
  }
}

interface BatchBody {
  api_key: string
  historical_migration: boolean
  batch: {
    event: string
    distinct_id: string
    properties: Record<string, unknown>
    timestamp: string
    uuid: string
  }[]
}

function decode(request: ReceivedRequest): BatchBody {
  return JSON.parse(gunzipSync(request.body).toString('utf8')) as BatchBody
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

describe('createPostHogBatchSink', () => {
  it('POSTs a gzipped batch-API body to <host>/batch/ in the capture API shape', async () => {
    const server = await serve()
    const sink = sinkFor(server)
    await sink.write([
      event(1, {
        ip: '203.0.113.9',
        properties: { plan: 'pro', $set: { a: 1, b: 1 } },
        $set: { b: 2, c: 2 },
        $set_once: { first: 'x' },
      }),
      event(2, { ip: '203.0.113.9', properties: { $ip: '198.51.100.1' } }),
    ])

    expect(server.requests).toHaveLength(1)
    const [request] = server.requests as [ReceivedRequest]
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/batch/')
    expect(request.headers['content-encoding']).toBe('gzip')
    expect(request.headers['content-type']).toBe('application/json')
    expect(decode(request)).toEqual({
      api_key: API_KEY,
      historical_migration: false,
      batch: [
        {
          event: 'event 1',
          distinct_id: 'user-1',
          properties: {
            plan: 'pro',
            $set: { a: 1, b: 2, c: 2 },
            $set_once: { first: 'x' },
            $ip: '203.0.113.9',
          },
          timestamp: '2026-01-01T00:00:01.000Z',
          uuid: '00000000-0000-4000-8000-000000000001',
        },
        {
          event: 'event 2',
          distinct_id: 'user-2',
          properties: { $ip: '198.51.100.1' },
          timestamp: '2026-01-01T00:00:02.000Z',
          uuid: '00000000-0000-4000-8000-000000000002',
        },
      ],
    })
  })

  it('is named posthog:<host> and keeps a path prefix of the host', async () => {
    const server = await serve()
    const sink = sinkFor(server, { host: `${server.origin}/ingest/`, historicalMigration: true })
    expect(sink.name).toBe(`posthog:${new URL(server.origin).host}`)
    await sink.write([event(1)])
    expect(server.requests[0]?.url).toBe('/ingest/batch/')
    expect(decode(server.requests[0] as ReceivedRequest).historical_migration).toBe(true)
  })

  it('splits a write into requests of at most maxEventsPerRequest, sent one at a time in order', async () => {
    const server = await serve(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      return { status: 200 }
    })
    const sink = sinkFor(server, { maxEventsPerRequest: 3 })
    const events = Array.from({ length: 8 }, (_, n) => event(n))
    await sink.write(events)

    const batches = server.requests.map((request) => decode(request).batch.map((item) => item.uuid))
    expect(batches.map((batch) => batch.length)).toEqual([3, 3, 2])
    expect(batches.flat()).toEqual(events.map((e) => e.uuid))
    expect(server.maxConcurrent).toBe(1)
  })

  it('keeps the order of writes made without waiting for the previous one', async () => {
    const server = await serve()
    const sink = sinkFor(server)
    await Promise.all([sink.write([event(1)]), sink.write([event(2)]), sink.write([event(3)])])
    expect(server.requests.map((request) => decode(request).batch[0]?.uuid)).toEqual(
      [1, 2, 3].map((n) => event(n).uuid),
    )
    expect(server.maxConcurrent).toBe(1)
  })

  it('splits by maxBytesPerRequest, and sends an event larger than the limit alone', async () => {
    const server = await serve()
    const sink = sinkFor(server, { maxBytesPerRequest: 1000 })
    const small = (n: number) => event(n, { properties: { text: 'x'.repeat(300) } })
    const events = [
      small(1),
      small(2),
      small(3),
      event(4, { properties: { text: 'y'.repeat(2000) } }),
      small(5),
    ]
    await sink.write(events)

    const batches = server.requests.map((request) => decode(request).batch.map((item) => item.uuid))
    expect(batches).toEqual([
      [events[0]?.uuid, events[1]?.uuid],
      [events[2]?.uuid],
      [events[3]?.uuid],
      [events[4]?.uuid],
    ])
  })

  it.each([408, 429, 500, 503])('rejects with a retryable SinkError on %i', async (status) => {
    const server = await serve(() => ({
      status,
      body: JSON.stringify({ detail: 'try later' }),
      headers: { 'retry-after': '30' },
    }))
    const error = await rejection(sinkFor(server).write([event(1)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`posthog:${new URL(server.origin).host}`)
    expect(error.message).toContain(`answered ${status}`)
    expect(error.message).toContain('try later')
    expect(error.message).toContain('Retry-After: 30')
  })

  it('rejects with a non-retryable SinkError carrying the reason on another 4xx, without the API key', async () => {
    const server = await serve(() => ({
      status: 401,
      body: JSON.stringify({ type: 'authentication_error', detail: `Project API key ${API_KEY} is invalid` }),
    }))
    const error = await rejection(sinkFor(server).write([event(1)]))
    expect(error.retryable).toBe(false)
    expect(error.code).toBe('sink.refused')
    expect(error.message).toContain('answered 401')
    expect(error.message).toContain('Project API key *** is invalid')
    expect(error.message).toContain('check the API key')
    expect(error.message).not.toContain(API_KEY)
  })

  it('stops at the first failed request: later requests are not sent, the write rejects', async () => {
    const server = await serve((_request, index) => (index === 1 ? { status: 502 } : { status: 200 }))
    const sink = sinkFor(server, { maxEventsPerRequest: 2 })
    const error = await rejection(sink.write([event(1), event(2), event(3), event(4), event(5)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('events 3–4 of 5')
    expect(server.requests).toHaveLength(2)
  })

  it('rejects with a retryable SinkError when the connection drops or is refused', async () => {
    const dropping = await serve(() => 'destroy')
    const dropped = await rejection(sinkFor(dropping).write([event(1)]))
    expect(dropped.retryable).toBe(true)

    const port = await closedPort()
    const refused = await rejection(
      createPostHogBatchSink({ host: `http://127.0.0.1:${port}`, apiKey: API_KEY }).write([event(1)]),
    )
    expect(refused.retryable).toBe(true)
    expect(refused.message).toContain(`posthog:127.0.0.1:${port}`)
    expect(refused.message).toContain('ECONNREFUSED')
  })

  it('rejects with a retryable SinkError when the answer takes longer than timeoutMs', async () => {
    const server = await serve(() => undefined)
    const error = await rejection(sinkFor(server, { timeoutMs: 100 }).write([event(1)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('did not complete within 100 ms')
  })

  it('refuses to follow a redirect, which would drop the body', async () => {
    const server = await serve(() => ({ status: 301, headers: { location: '/elsewhere/' } }))
    const error = await rejection(sinkFor(server).write([event(1)]))
    expect(error.retryable).toBe(false)
    expect(error.code).toBe('sink.redirected')
    expect(server.requests).toHaveLength(1)
  })

  it('refuses private addresses when allowPrivateNetworks is false', async () => {
    const server = await serve()
    const error = await rejection(sinkFor(server, { allowPrivateNetworks: false }).write([event(1)]))
    expect(error.retryable).toBe(false)
    expect(server.requests).toHaveLength(0)
  })

  it('close() waits for the request in flight; later writes are refused', async () => {
    let release: (answer: Answer) => void = () => {}
    const server = await serve(
      () =>
        new Promise<Answer>((resolve) => {
          release = resolve
        }),
    )
    const sink = sinkFor(server)
    const settled: string[] = []
    const writing = sink.write([event(1)]).then(() => settled.push('write'))
    while (server.requests.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const closing = sink.close().then(() => settled.push('close'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toEqual([])
    release({ status: 200 })
    await Promise.all([writing, closing])
    expect(settled).toEqual(['write', 'close'])

    const error = await rejection(sink.write([event(2)]))
    expect(error.code).toBe('sink.closed')
  })

  it('resolves an empty write without a request', async () => {
    const server = await serve()
    await sinkFor(server).write([])
    expect(server.requests).toHaveLength(0)
  })

  it('rejects an event that is not JSON data, naming it', async () => {
    const server = await serve()
    const error = await rejection(sinkFor(server).write([event(1), event(2, { properties: { big: 1n } })]))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain('event 1 cannot be sent')
    expect(server.requests).toHaveLength(0)
  })

  it.each([
    ['a host that is not a URL', { host: 'not a url' }],
    ['a host that is not http(s)', { host: 'ftp://example.com' }],
    ['a host with a query', { host: 'https://example.com/?x=1' }],
    ['an empty apiKey', { apiKey: ' ' }],
    ['maxEventsPerRequest 0', { maxEventsPerRequest: 0 }],
    ['a fractional timeoutMs', { timeoutMs: 1.5 }],
  ])('throws a non-retryable SinkError for %s', (_case, options) => {
    const create = () => createPostHogBatchSink({ host: 'https://example.com', apiKey: API_KEY, ...options })
    expect(create).toThrow(SinkError)
    expect(create).toThrow(/fix the sink's configuration/)
  })
})
