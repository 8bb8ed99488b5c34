// `pnpm bench kafka`: Kafka in → 3 plugins → Kafka out, versus a plain kafkajs consume → produce
// passthrough on the same broker. Both read the same pre-produced topic (8 partitions) in a fresh
// consumer group and are timed until every event is in their out topic.
import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import kafkajs, { type Admin, type Kafka } from 'kafkajs'
import {
  type BenchServer,
  describeMachine,
  formatNumber,
  installThreePlugins,
  sdkEvent,
  startBenchServer,
  waitUntilReady,
} from './support.js'

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'
const EVENTS = Number(process.env.SLUICE_BENCH_EVENTS ?? 200_000)
const PARTITIONS = 8
const PRODUCE_CHUNK = 2_000
const TIMEOUT_MS = 120_000

/** Whether the first broker accepts a TCP connection within 2 s. */
function reachable(broker: string): Promise<boolean> {
  const [host = '127.0.0.1', port = '9092'] = broker.split(':')
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port), timeout: 2_000 })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
}

/** Records in `topic` (the sum of its partitions' high watermarks). */
async function recordsIn(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0)
}

/** When the first record appeared in `topic` and when all `count` were there, polling every 50 ms. */
async function timeUntilAll(admin: Admin, topic: string, count: number) {
  const deadline = Date.now() + TIMEOUT_MS
  let first: { at: number; records: number } | undefined
  for (;;) {
    const records = await recordsIn(admin, topic)
    const now = Date.now()
    if (records > 0) first ??= { at: now, records }
    if (records >= count && first) return { firstAt: first.at, firstRecords: first.records, allAt: now }
    if (now > deadline)
      throw new Error(`only ${records} of ${count} events reached ${topic} within 2 minutes`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function preProduce(kafka: Kafka, topic: string): Promise<void> {
  const producer = kafka.producer()
  await producer.connect()
  const now = new Date().toISOString()
  const chunks = Math.ceil(EVENTS / PRODUCE_CHUNK)
  let nextChunk = 0
  const send = async () => {
    for (let chunk = nextChunk++; chunk < chunks; chunk = nextChunk++) {
      const messages = []
      for (
        let index = chunk * PRODUCE_CHUNK;
        index < Math.min(EVENTS, (chunk + 1) * PRODUCE_CHUNK);
        index++
      ) {
        const event = {
          uuid: randomUUID(),
          team_id: 1,
          now,
          ip: '127.0.0.1',
          site_url: '',
          ...sdkEvent(index, 0),
        }
        messages.push({ key: `1:user-${index % 50}`, value: JSON.stringify(event) })
      }
      await producer.send({ topic, messages, acks: -1 })
    }
  }
  await Promise.all([send(), send(), send(), send()])
  await producer.disconnect()
}

/** A kafkajs consumer group forwarding each fetched batch to `outTopic`, as Sluice's queue consumes. */
async function passthrough(kafka: Kafka, admin: Admin, inTopic: string, outTopic: string, group: string) {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500 })
  const producer = kafka.producer()
  const startedAt = Date.now()
  await producer.connect()
  await consumer.connect()
  await consumer.subscribe({ topics: [inTopic], fromBeginning: true })
  await consumer.run({
    autoCommit: true,
    autoCommitThreshold: 1,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
      const messages = batch.messages.map((message) => ({ key: message.key, value: message.value }))
      await producer.send({ topic: outTopic, messages, acks: -1 })
      const last = batch.messages.at(-1)
      if (last) resolveOffset(last.offset)
      await commitOffsetsIfNecessary()
      await heartbeat()
    },
  })
  const timing = await timeUntilAll(admin, outTopic, EVENTS)
  await consumer.disconnect()
  await producer.disconnect()
  return { startedAt, ...timing }
}

/** Sluice with the Kafka queue and a Kafka sink, its plugins installed beforehand in its data folder. */
async function sluice(admin: Admin, inTopic: string, outTopic: string, group: string) {
  const setup: BenchServer = await startBenchServer()
  await installThreePlugins(setup, 1)
  await waitUntilReady(setup.server, 3)
  await setup.stop({ keepData: true })

  const startedAt = Date.now()
  const bench = await startBenchServer(
    {
      SLUICE_QUEUE: 'kafka',
      KAFKA_BROKERS: BROKERS,
      SLUICE_INGESTION_TOPIC: inTopic,
      SLUICE_CONSUMER_GROUP: group,
      SLUICE_SINKS: `kafka:${outTopic}`,
    },
    setup.dataDir,
  )
  try {
    if (bench.server.runtime.configs.chain(1).length !== 3) {
      throw new Error('the server started without the 3 plugins installed in its data folder')
    }
    return { startedAt, ...(await timeUntilAll(admin, outTopic, EVENTS)) }
  } finally {
    await bench.stop()
  }
}

async function main() {
  if (!(await reachable(BROKERS.split(',')[0] ?? ''))) {
    console.log(
      `SKIPPED: no Kafka broker at ${BROKERS}. Start one with \`bash tooling/services/services.sh start kafka\` (or set KAFKA_BROKERS).`,
    )
    return
  }
  const kafka = new kafkajs.Kafka({
    clientId: 'sluice-bench',
    brokers: BROKERS.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  })
  const admin = kafka.admin()
  await admin.connect()
  const namespace = `sluice-bench-${Date.now().toString(36)}`
  const topics = {
    in: `${namespace}-in`,
    passthrough: `${namespace}-out-passthrough`,
    sluice: `${namespace}-out-sluice`,
  }
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({
        topic,
        numPartitions: PARTITIONS,
        replicationFactor: 1,
      })),
    })
    const producing = Date.now()
    await preProduce(kafka, topics.in)
    const produceSeconds = (Date.now() - producing) / 1000
    console.log(
      `${describeMachine()}; broker ${BROKERS}; ${formatNumber(EVENTS)} events pre-produced to ${PARTITIONS} partitions in ${produceSeconds.toFixed(1)} s; 4 partitions consumed at once on both sides`,
    )

    const results: Array<[string, Awaited<ReturnType<typeof passthrough>>]> = [
      [
        'kafkajs passthrough',
        await passthrough(kafka, admin, topics.in, topics.passthrough, `${namespace}-pt`),
      ],
      ['Sluice, 3 plugins', await sluice(admin, topics.in, topics.sluice, `${namespace}-sluice`)],
    ]
    const rates = results.map(([name, timing]) => {
      const total = EVENTS / ((timing.allAt - timing.startedAt) / 1000)
      const steady = (EVENTS - timing.firstRecords) / ((timing.allAt - timing.firstAt) / 1000)
      const firstOut = (timing.firstAt - timing.startedAt) / 1000
      console.log(
        `  ${name.padEnd(22)} ${formatNumber(steady).padStart(7)} events/s from the first event out; ${formatNumber(total).padStart(7)} events/s from the start (first event out after ${firstOut.toFixed(1)} s)`,
      )
      return { steady, total }
    })
    const [baseline, server] = rates as [(typeof rates)[number], (typeof rates)[number]]
    console.log('Ratio (Sluice / passthrough; target ≥ 0.7):')
    console.log(`  from the first event out  ${(server.steady / baseline.steady).toFixed(2)}`)
    console.log(`  from the start            ${(server.total / baseline.total).toFixed(2)}`)
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
  }
}

await main()
