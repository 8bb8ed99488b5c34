import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './support.js'

// Holds each batch for a while, so captured events wait in the queue.
const SLOW_PLUGIN = `export async function processEvent(event) {
  await new Promise((resolve) => setTimeout(resolve, 3000))
  return event
}`

const batch = (from: number, count: number) =>
  Array.from({ length: count }, (_, index) => ({
    event: 'queued',
    distinct_id: `user-${index}`,
    properties: { n: from + index },
  }))

describe('the in-memory queue when processing falls behind', () => {
  let test: TestServer
  beforeAll(async () => {
    test = await startTestServer({ SLUICE_MEMORY_QUEUE_MAX_EVENTS: '20' })
    const plugin = await test.admin('POST', '/api/plugins', {
      files: { 'plugin.json': JSON.stringify({ name: 'slow', main: 'index.js' }), 'index.js': SLOW_PLUGIN },
    })
    const config = await test.admin('POST', '/api/configs', {
      pluginId: plugin.body.id,
      teamId: 1,
      enabled: true,
    })
    const deadline = Date.now() + 10_000
    while (test.server.runtime.configs.get(config.body.id as number)?.status !== 'ready') {
      if (Date.now() > deadline) throw new Error('the config did not load within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }, 60_000)
  afterAll(async () => {
    await test?.stop()
  })

  const capture = (events: unknown[]) =>
    fetch(`${test.server.url}/batch/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: 'phc_test', batch: events }),
    })

  it('answers 503 past SLUICE_MEMORY_QUEUE_MAX_EVENTS, keeps what it acknowledged, and takes events again once caught up', async () => {
    expect((await capture(batch(0, 15))).status).toBe(200)
    const refused = await capture(batch(15, 15))
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /holds 15 records not yet processed and takes at most 20: processing is behind.*send them again/,
    )
    const first = await test.waitForEvents(15)
    expect(first.map((event) => (event.properties as { n: number }).n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 15 }, (_, index) => index),
    )
    // The sink can hold the events a moment before the queue has their acknowledgement: send
    // again on 503, as the answer says to, until the queue takes the batch.
    const deadline = Date.now() + 5_000
    let again = await capture(batch(30, 15))
    while (again.status === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      again = await capture(batch(30, 15))
    }
    expect(again.status).toBe(200)
    const all = await test.waitForEvents(30)
    expect(
      all.map((event) => (event.properties as { n: number }).n).filter((n) => n >= 15 && n < 30),
    ).toEqual([])
  }, 30_000)
})
