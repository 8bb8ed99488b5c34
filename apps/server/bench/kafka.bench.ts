// `pnpm bench kafka`: Kafka in → 3 plugins → Kafka out, versus a plain kafkajs consume → produce
// passthrough on the same broker, and the same server with no plugins (its fixed path). Each reads
// the same pre-produced topic (8 partitions) in a fresh consumer group and is timed until every
// event is in its out topic; CPU time is counted for this process and, when it runs here, the broker.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
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

/**
 * CPU seconds the local broker started by `tooling/services/kafka.sh` has used so far (user +
 * system, from /proc), or null when that is not the broker in use or /proc cannot tell.
 */
function brokerCpuSeconds(): number | null {
  const [host, port] = BROKERS.split(',')[0]?.split(':') ?? []
  if (host !== '127.0.0.1' && host !== 'localhost') return null
  try {
    const runDir =
      process.env.SLUICE_SERVICES_RUN_DIR ??
      fileURLToPath(new URL('../../../tooling/services/.run', import.meta.url))
    const pidFile = `${runDir}/kafka-${port}/kafka.pid`
    const stat = readFileSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}/stat`, 'utf8')
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (1/100 s).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

/** CPU microseconds per event, of this process and of the broker, spent while `work` ran. */
async function withCpu<T>(
  work: () => Promise<T>,
): Promise<T & { processUs: number; brokerUs: number | null }> {
  const process0 = process.cpuUsage()
  const broker0 = brokerCpuSeconds()
  const result = await work()
  const used = process.cpuUsage(process0)
  const broker1 = brokerCpuSeconds()
  return {
    ...result,
    processUs: (used.user + used.system) / EVENTS,
    brokerUs: broker0 === null || broker1 === null ? null : ((broker1 - broker0) * 1e6) / EVENTS,
  }
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

/**
 * Sluice with the Kafka queue and a Kafka sink; `withPlugins`, its 3 plugin configs are installed
 * beforehand in its data folder.
 */
async function sluice(admin: Admin, inTopic: string, outTopic: string, group: string, withPlugins: boolean) {
  const plugins = withPlugins ? 3 : 0
  // The data folder is initialised before timing starts, with or without plugins.
  const setup: BenchServer = await startBenchServer()
  if (withPlugins) {
    await installThreePlugins(setup, 1)
    await waitUntilReady(setup.server, plugins)
  }
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
    if (bench.server.runtime.configs.chain(1).length !== plugins) {
      throw new Error(`the server started without the ${plugins} plugins installed in its data folder`)
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
    bare: `${namespace}-out-bare`,
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

    const results = [
      {
        name: 'kafkajs passthrough',
        ...(await withCpu(() => passthrough(kafka, admin, topics.in, topics.passthrough, `${namespace}-pt`))),
      },
      {
        name: 'Sluice, no plugins',
        ...(await withCpu(() => sluice(admin, topics.in, topics.bare, `${namespace}-bare`, false))),
      },
      {
        name: 'Sluice, 3 plugins',
        ...(await withCpu(() => sluice(admin, topics.in, topics.sluice, `${namespace}-sluice`, true))),
      },
    ]
    const rates = results.map((timing) => {
      const total = EVENTS / ((timing.allAt - timing.startedAt) / 1000)
      const steady = (EVENTS - timing.firstRecords) / ((timing.allAt - timing.firstAt) / 1000)
      const firstOut = (timing.firstAt - timing.startedAt) / 1000
      const broker = timing.brokerUs === null ? '' : `, broker ${timing.brokerUs.toFixed(1)}`
      console.log(
        `  ${timing.name.padEnd(22)} ${formatNumber(steady).padStart(7)} events/s from the first event out; ${formatNumber(total).padStart(7)} events/s from the start (first event out after ${firstOut.toFixed(1)} s); CPU µs per event: this process ${timing.processUs.toFixed(1)}${broker}`,
      )
      return { steady, total }
    })
    const [baseline, bare, server] = rates as [
      (typeof rates)[number],
      (typeof rates)[number],
      (typeof rates)[number],
    ]
    console.log('Ratio (Sluice, 3 plugins / passthrough; target ≥ 0.7):')
    console.log(`  from the first event out  ${(server.steady / baseline.steady).toFixed(2)}`)
    console.log(`  from the start            ${(server.total / baseline.total).toFixed(2)}`)
    console.log('The server with no plugins / passthrough (its fixed path: decode, check, encode, produce):')
    console.log(`  from the first event out  ${(bare.steady / baseline.steady).toFixed(2)}`)
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
  }
}

await main()
