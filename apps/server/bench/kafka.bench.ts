// `pnpm bench kafka`: Kafka in → 3 plugins → Kafka out, versus a plain kafkajs consume → produce
// passthrough on the same broker, and the same server with no plugins (its fixed path). Each reads
// the same pre-produced topic (8 partitions) in a fresh consumer group and is timed until every
// event is in its out topic; CPU time is counted for this process and, when it runs here, the broker.
// The three run in turn for several rounds and the ratios are taken per round: on a shared machine
// one round's ratio moves by a quarter either way, the median of rounds far less. A million events
// by default: each isolate compiles the plugins' hot code on its own, so a run of a few seconds
// measures warm-up more than the sustained rate.
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
  percentile,
  sdkEvent,
  startBenchServer,
  waitUntilReady,
} from './support.js'

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'
const EVENTS = Number(process.env.SLUICE_BENCH_EVENTS ?? 1_000_000)
const PARTITIONS = 8
const PRODUCE_CHUNK = 2_000
const TIMEOUT_MS = 120_000
const ROUNDS = Number(process.env.SLUICE_BENCH_ROUNDS ?? 3)

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

/**
 * The machine's CPU time so far in clock ticks, all cores: [idle (waiting for I/O included), total],
 * or null without /proc.
 */
function machineTicks(): [number, number] | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]
      ?.trim()
      .split(/\s+/)
      .slice(1)
      .map(Number)
    if (!fields || fields.length < 5 || fields.some(Number.isNaN)) return null
    return [(fields[3] ?? 0) + (fields[4] ?? 0), fields.reduce((sum, ticks) => sum + ticks, 0)]
  } catch {
    return null
  }
}

/**
 * CPU microseconds per event, of this process and of the broker, spent while `work` ran, and the
 * share of the machine's CPU time that was idle meanwhile (a phase that leaves cores idle waits on
 * something other than CPU).
 */
async function withCpu<T>(
  work: () => Promise<T>,
): Promise<T & { processUs: number; brokerUs: number | null; idle: number | null }> {
  const machine0 = machineTicks()
  const process0 = process.cpuUsage()
  const broker0 = brokerCpuSeconds()
  const result = await work()
  const used = process.cpuUsage(process0)
  const broker1 = brokerCpuSeconds()
  const machine1 = machineTicks()
  return {
    ...result,
    processUs: (used.user + used.system) / EVENTS,
    brokerUs: broker0 === null || broker1 === null ? null : ((broker1 - broker0) * 1e6) / EVENTS,
    idle: machine0 && machine1 ? (machine1[0] - machine0[0]) / (machine1[1] - machine0[1]) : null,
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

/** A data folder for {@link sluice}, initialised (the embedded database, the 3 plugins if asked). */
async function sluiceDataDir(withPlugins: boolean): Promise<string> {
  const setup: BenchServer = await startBenchServer()
  if (withPlugins) {
    await installThreePlugins(setup, 1)
    await waitUntilReady(setup.server, 3)
  }
  await setup.stop({ keepData: true })
  return setup.dataDir
}

/** Sluice with the Kafka queue and a Kafka sink, started on a data folder from {@link sluiceDataDir}. */
async function sluice(
  admin: Admin,
  inTopic: string,
  outTopic: string,
  group: string,
  dataDir: string,
  plugins: number,
) {
  const startedAt = Date.now()
  const bench = await startBenchServer(
    {
      SLUICE_QUEUE: 'kafka',
      KAFKA_BROKERS: BROKERS,
      SLUICE_INGESTION_TOPIC: inTopic,
      SLUICE_CONSUMER_GROUP: group,
      SLUICE_SINKS: `kafka:${outTopic}`,
    },
    dataDir,
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

interface Measured {
  /** Events per second from the first event out to the last. */
  steady: number
  /** Events per second from the phase's start to the last event out. */
  total: number
  /** Seconds from the phase's start to the first event out. */
  firstOut: number
  processUs: number
  brokerUs: number | null
  /** Share of the machine's CPU time left idle during the phase. */
  idle: number | null
}

/** What one phase reports: `timeUntilAll`'s times from its start, and `withCpu`'s CPU per event. */
interface PhaseTiming {
  startedAt: number
  firstAt: number
  firstRecords: number
  allAt: number
  processUs: number
  brokerUs: number | null
  idle: number | null
}

function measure(timing: PhaseTiming): Measured {
  return {
    steady: (EVENTS - timing.firstRecords) / ((timing.allAt - timing.firstAt) / 1000),
    total: EVENTS / ((timing.allAt - timing.startedAt) / 1000),
    firstOut: (timing.firstAt - timing.startedAt) / 1000,
    processUs: timing.processUs,
    brokerUs: timing.brokerUs,
    idle: timing.idle,
  }
}

const median = (values: readonly number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  )

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
  const inTopic = `${namespace}-in`
  const created: string[] = []
  /** A fresh out topic for one phase of one round. */
  const outTopic = async (name: string) => {
    const topic = `${namespace}-out-${name}`
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    })
    created.push(topic)
    return topic
  }
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: inTopic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    })
    created.push(inTopic)
    const producing = Date.now()
    await preProduce(kafka, inTopic)
    const produceSeconds = (Date.now() - producing) / 1000
    console.log(
      `${describeMachine()}; broker ${BROKERS}; ${formatNumber(EVENTS)} events pre-produced to ${PARTITIONS} partitions in ${produceSeconds.toFixed(1)} s; 4 partitions consumed at once on both sides; ${ROUNDS} rounds`,
    )

    // `prepare` runs before the phase's time and CPU are counted: out topic, data folder.
    const phases = [
      {
        name: 'kafkajs passthrough',
        prepare: async (round: number) => {
          const out = await outTopic(`pt-${round}`)
          return () => passthrough(kafka, admin, inTopic, out, `${namespace}-pt-${round}`)
        },
      },
      {
        name: 'Sluice, no plugins',
        prepare: async (round: number) => {
          const [out, dataDir] = await Promise.all([outTopic(`bare-${round}`), sluiceDataDir(false)])
          return () => sluice(admin, inTopic, out, `${namespace}-bare-${round}`, dataDir, 0)
        },
      },
      {
        name: 'Sluice, 3 plugins',
        prepare: async (round: number) => {
          const [out, dataDir] = await Promise.all([outTopic(`sluice-${round}`), sluiceDataDir(true)])
          return () => sluice(admin, inTopic, out, `${namespace}-sluice-${round}`, dataDir, 3)
        },
      },
    ]
    const measured = phases.map((phase) => ({ name: phase.name, rounds: [] as Measured[] }))
    for (let round = 1; round <= ROUNDS; round++) {
      const line: string[] = []
      for (const [index, phase] of phases.entries()) {
        const timing = await withCpu(await phase.prepare(round))
        const result = measure(timing)
        measured[index]?.rounds.push(result)
        line.push(`${phase.name} ${formatNumber(result.steady)}`)
      }
      console.log(`  round ${round}: ${line.join(', ')} events/s from the first event out`)
    }
    console.log('Medians of the rounds:')
    for (const { name, rounds } of measured) {
      const broker = rounds.every((r) => r.brokerUs !== null)
        ? `, broker ${median(rounds.map((r) => r.brokerUs as number)).toFixed(1)}`
        : ''
      const idle = rounds.every((r) => r.idle !== null)
        ? `; machine idle ${(100 * median(rounds.map((r) => r.idle as number))).toFixed(1)}%`
        : ''
      console.log(
        `  ${name.padEnd(22)} ${formatNumber(median(rounds.map((r) => r.steady))).padStart(7)} events/s from the first event out; ${formatNumber(median(rounds.map((r) => r.total))).padStart(7)} events/s from the start (first event out after ${median(rounds.map((r) => r.firstOut)).toFixed(1)} s); CPU µs per event: this process ${median(rounds.map((r) => r.processUs)).toFixed(1)}${broker}${idle}`,
      )
    }
    const [baseline, bare, server] = measured.map((phase) => phase.rounds) as [
      Measured[],
      Measured[],
      Measured[],
    ]
    const ratios = (of: Measured[], key: 'steady' | 'total') =>
      of.map((result, round) => result[key] / (baseline[round] as Measured)[key])
    const describe = (values: number[]) =>
      `${median(values).toFixed(2)} (rounds: ${values.map((value) => value.toFixed(2)).join(', ')})`
    console.log('Ratio (Sluice, 3 plugins / passthrough, median of per-round ratios; target ≥ 0.7):')
    console.log(`  from the first event out  ${describe(ratios(server, 'steady'))}`)
    console.log(`  from the start            ${describe(ratios(server, 'total'))}`)
    console.log('The server with no plugins / passthrough (its fixed path: decode, check, encode, produce):')
    console.log(`  from the first event out  ${describe(ratios(bare, 'steady'))}`)
  } finally {
    await admin.deleteTopics({ topics: created }).catch(() => undefined)
    await admin.disconnect()
  }
}

await main()
