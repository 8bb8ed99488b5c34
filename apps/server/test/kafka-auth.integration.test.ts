// The server on a Kafka listener that requires SASL (the test broker's SASL/PLAIN listener of
// tooling/services/kafka.sh): the queue and the kafka sink authenticate with KAFKA_SASL_*.
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, waitFor } from './support.js'

const PLAIN_BROKERS = process.env.SLUICE_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092'
const SASL_BROKERS = process.env.SLUICE_TEST_KAFKA_SASL_BROKERS ?? '127.0.0.1:9094'

/** The server env for the SASL listener as user sluice-test, queueing on topics named after `name`. */
const saslEnv = (password: string, name: string) => ({
  SLUICE_QUEUE: 'kafka',
  KAFKA_BROKERS: SASL_BROKERS,
  KAFKA_SASL_MECHANISM: 'plain',
  KAFKA_SASL_USERNAME: 'sluice-test',
  KAFKA_SASL_PASSWORD: password,
  SLUICE_INGESTION_TOPIC: `${name}_in`,
  SLUICE_CONSUMER_GROUP: name,
})

describe('the server on a Kafka listener that requires SASL', { timeout: 120_000 }, () => {
  const run = randomUUID().slice(0, 8)
  const servers: TestServer[] = []
  afterAll(async () => {
    for (const server of servers) await server.stop()
  })

  it('queues and sinks through the authenticated listener', async () => {
    const out = `sasl_out_${run}`
    const plain = new Kafka({ brokers: [PLAIN_BROKERS], logLevel: logLevel.NOTHING })
    // Made here, so the check below can subscribe before the sink first writes to it.
    const admin = plain.admin()
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: out, numPartitions: 2 }] })
    await admin.disconnect()
    const test = await startTestServer({
      ...saslEnv('sluice-test-secret', `sasl_${run}`),
      SLUICE_SINKS: `kafka:${out}`,
    })
    servers.push(test)
    const batch = Array.from({ length: 20 }, (_, index) => ({
      event: 'authenticated',
      distinct_id: `user-${index % 4}`,
      uuid: randomUUID(),
    }))
    const response = await fetch(`${test.server.url}/batch/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: 'phc_sasl', batch }),
    })
    expect(response.status, await response.clone().text()).toBe(200)

    // Read back over the plain listener: the records are the same whichever listener wrote them.
    const consumer = plain.consumer({ groupId: `sasl-check-${run}` })
    const seen = new Set<string>()
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [out], fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.add((JSON.parse(message.value?.toString() ?? '{}') as { uuid: string }).uuid)
        },
      })
      await waitFor(
        'every event in the out topic',
        () => batch.every((event) => seen.has(event.uuid)),
        60_000,
      )
    } finally {
      await consumer.disconnect()
    }
  })

  it('refuses to start with a wrong password, saying authentication failed without repeating it', async () => {
    const failure = await startTestServer(saslEnv('not-the-password', `sasl_bad_${run}`)).then(
      (server) => {
        servers.push(server)
        return null
      },
      (error: unknown) => error as Error,
    )
    expect(failure?.message).toMatch(/SASL PLAIN authentication failed/)
    expect(failure?.message).not.toContain('not-the-password')
  })
})
