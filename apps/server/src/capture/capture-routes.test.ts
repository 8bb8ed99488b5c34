import { gzipSync } from 'node:zlib'
import type { PluginEvent, QueueMessage, QueueTransport } from '@sluice/core'
import { createMemoryQueue } from '@sluice/memory'
import { describe, expect, it } from 'vitest'
import { createRouter } from '../http/router.js'
import type { HttpRequest } from '../http/types.js'
import { type CaptureCounters, createCaptureRoutes } from './capture-routes.js'

const NOW = Date.parse('2026-11-21T10:00:00.000Z')

const post = (path: string, body: Buffer | string, headers: Record<string, string> = {}): HttpRequest => ({
  method: 'POST',
  url: new URL(path, 'http://sluice.test'),
  headers: { 'content-type': 'application/json', ...headers },
  remoteAddress: '203.0.113.9',
  body: async () => Buffer.from(body),
})

const setup = (queue: QueueTransport = createMemoryQueue()) => {
  const counters: CaptureCounters = { requests: 0, rejected: 0, eventsAccepted: 0 }
  let next = 0
  const route = createRouter(
    createCaptureRoutes({
      queue,
      ingestionTopic: 'events',
      now: () => NOW,
      newUuid: () => `00000000-0000-4000-8000-00000000000${next++}`,
      teamOf: (token) => (token === 'phc_team2' ? 2 : null),
      counters,
    }),
  )
  const read = async (count: number) => {
    const messages: QueueMessage[] = []
    await new Promise<void>((resolve, reject) => {
      queue
        .consume('events', { group: 'test' }, async (batch) => {
          messages.push(...batch)
          if (messages.length >= count) resolve()
        })
        .catch(reject)
    })
    return messages
  }
  return { route, counters, read }
}

describe('capture routes', () => {
  it('queues a batch keyed team:distinct_id with uuids, team, ip and receive time, then answers {status: 1}', async () => {
    const { route, counters, read } = setup()
    const body = gzipSync(
      JSON.stringify({
        api_key: 'phc_team2',
        batch: [
          { event: 'a', distinct_id: 'u1', properties: {}, timestamp: '2026-11-21T09:59:00.000Z' },
          {
            event: 'b',
            distinct_id: 'u2',
            uuid: '0190c0de-0000-7000-8000-000000000001',
            properties: { $ip: '198.51.100.1' },
          },
        ],
      }),
    )
    const response = await route(post('/batch/', body, { 'content-encoding': 'gzip' }))
    expect(response).toEqual({ status: 200, body: { status: 1 } })
    const messages = await read(2)
    expect(messages.map((message) => message.key)).toEqual(['2:u1', '2:u2'])
    const events = messages.map((message) => JSON.parse(message.value) as PluginEvent)
    expect(events[0]).toEqual({
      uuid: '00000000-0000-4000-8000-000000000000',
      distinct_id: 'u1',
      ip: '203.0.113.9',
      site_url: '',
      team_id: 2,
      now: '2026-11-21T10:00:00.000Z',
      event: 'a',
      timestamp: '2026-11-21T09:59:00.000Z',
      properties: {},
    })
    expect(events[1]).toMatchObject({ uuid: '0190c0de-0000-7000-8000-000000000001', ip: '198.51.100.1' })
    expect(counters).toEqual({ requests: 1, rejected: 0, eventsAccepted: 2 })
  })

  it('refuses an unknown token with 401 and queues nothing of that request', async () => {
    const { route, counters } = setup()
    const request = post('/e', JSON.stringify({ api_key: 'phc_other_token', event: 'a', distinct_id: 'u' }))
    await expect(route(request)).rejects.toMatchObject({
      status: 401,
      message: 'the project token phc_ot… is not accepted here: use a token listed in SLUICE_PROJECT_TOKENS',
    })
    expect(counters).toMatchObject({ rejected: 1, eventsAccepted: 0 })
  })

  it('passes the decoder reason on as a 400', async () => {
    const { route } = setup()
    await expect(route(post('/capture', '{"api_key": "phc_team2", "event": ""}'))).rejects.toMatchObject({
      status: 400,
    })
  })

  it('answers 503 when the queue does not take the events, so the SDK sends them again', async () => {
    const failing: QueueTransport = {
      ...createMemoryQueue(),
      produce: async () => {
        throw new Error('broker unreachable')
      },
    }
    const { route, counters } = setup(failing)
    const request = post('/i/v0/e', JSON.stringify({ api_key: 'phc_team2', event: 'a', distinct_id: 'u' }))
    const error = await route(request).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ status: 503 })
    expect((error as Error).message).toMatch(
      /^the events could not be queued \(.*broker unreachable\); send them again$/,
    )
    expect(counters.eventsAccepted).toBe(0)
  })
})
