// Every sink kind SLUICE_SINKS names, composed by the server and fed by captured events: Postgres
// table, Pub/Sub topic, a PostHog instance's batch API and a webhook (the last two served here).
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { createPubSubQueue } from '@sluice/queue-pubsub'
import pg from 'pg'
import { PostHog } from 'posthog-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, waitFor } from './support.js'

const PUBSUB = process.env.PUBSUB_EMULATOR_HOST ?? '127.0.0.1:8085'
const POSTGRES = process.env.SLUICE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks)
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
}

describe('the sinks the server composes', { timeout: 60_000 }, () => {
  const database = `sluice_sinks_${randomUUID().slice(0, 8)}`
  const topic = `sinks_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: POSTGRES })
  const received = {
    posthog: [] as { api_key: string; batch: { event: string; uuid: string }[] }[],
    webhook: [] as unknown[][],
    headers: [] as (string | undefined)[],
  }
  let receiver: Server
  let test: TestServer

  beforeAll(async () => {
    receiver = createServer(async (request, response) => {
      const body = JSON.parse((await readBody(request)).toString())
      if (request.url === '/batch/') received.posthog.push(body)
      else {
        received.webhook.push(body)
        received.headers.push(request.headers.authorization)
      }
      response.writeHead(200).end('{}')
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    const url = new URL(POSTGRES)
    url.pathname = `/${database}`
    test = await startTestServer({
      DATABASE_URL: url.href,
      SLUICE_SINKS: `postgres:events_out,pubsub:${topic},posthog:${base},webhook:${base}/hook`,
      SLUICE_POSTHOG_SINK_API_KEY: 'phc_downstream',
      PUBSUB_EMULATOR_HOST: PUBSUB,
      SLUICE_WEBHOOK_SINK_HEADERS: JSON.stringify({ authorization: 'Bearer hook-secret' }),
    })
  }, 60_000)

  afterAll(async () => {
    await test?.stop()
    await new Promise((resolve) => receiver?.close(resolve))
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {})
    await admin.end()
  }, 60_000)

  it('writes every captured event to the table, the topic, the batch API and the webhook', async () => {
    // The topic is read through a subscription made before anything is captured, so the check does
    // not depend on the emulator replaying retained messages to a late subscriber.
    const queue = createPubSubQueue({ projectId: 'sluice', apiEndpoint: PUBSUB })
    const fromTopic = new Set<string>()
    await queue.consume(topic, { group: `${topic}-check` }, async (messages) => {
      for (const message of messages) fromTopic.add((JSON.parse(message.value) as { uuid: string }).uuid)
    })
    const table = new URL(POSTGRES)
    table.pathname = `/${database}`
    const reader = new pg.Client({ connectionString: table.href })
    await reader.connect()
    try {
      const client = new PostHog('phc_sinks', { host: test.server.url, flushAt: 5, flushInterval: 0 })
      for (let index = 0; index < 12; index += 1)
        client.capture({ distinctId: `u${index % 4}`, event: 'e', properties: { index } })
      await client.shutdown()

      const sinkErrors = () => test.logs.filter((line) => line.includes('"level":"error"')).join('\n')
      const rows = await waitFor(
        '12 rows in the table',
        async () => {
          const { rows } = await reader
            .query('SELECT uuid FROM sluice.events_out')
            .catch(() => ({ rows: [] }))
          return rows.length >= 12 && (rows as { uuid: string }[])
        },
        30_000,
        sinkErrors,
      )
      const uuids = new Set(rows.map((row) => row.uuid))
      expect(uuids.size).toBe(12)

      const posthogEvents = () => received.posthog.flatMap((request) => request.batch)
      await waitFor('12 events at the batch API', () => posthogEvents().length >= 12, 10_000, sinkErrors)
      expect(received.posthog.every((request) => request.api_key === 'phc_downstream')).toBe(true)
      expect(new Set(posthogEvents().map((event) => event.uuid))).toEqual(uuids)

      await waitFor(
        '12 events at the webhook',
        () => received.webhook.flat().length >= 12,
        10_000,
        sinkErrors,
      )
      expect(new Set(received.webhook.flat().map((event) => (event as { uuid: string }).uuid))).toEqual(uuids)
      expect(received.headers.every((header) => header === 'Bearer hook-secret')).toBe(true)

      await waitFor(
        '12 events on the Pub/Sub topic',
        () => fromTopic.size >= 12,
        10_000,
        () => {
          return `${fromTopic.size} arrived; ${sinkErrors()}`
        },
      )
      expect(fromTopic).toEqual(uuids)
    } finally {
      await reader.end()
      await queue.close()
    }
  })
})
