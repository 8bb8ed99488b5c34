// End-to-end harness: real `sluice serve` processes on Kafka, Postgres and Redis, a fresh database
// and fresh topics per cluster, a Kafka reader of the sink topic, and the admin API to install plugins.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import pg from 'pg'
import { PostHog } from 'posthog-node'
import { expect } from 'vitest'
import { callAdminOrThrow } from '../admin-client.js'

/** Brokers of the test Kafka. */
export const KAFKA_BROKERS = process.env.SLUICE_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092'
/** The admin token every spawned server gets. */
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef'
const POSTGRES_TEST_URL = new URL(
  process.env.SLUICE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
)
/** The maintenance database of the test server, where databases are created and dropped. */
const POSTGRES_ADMIN_URL = new URL('/postgres', POSTGRES_TEST_URL).href
const REDIS_TEST_URL = new URL(process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
const REDIS_HOST = REDIS_TEST_URL.hostname
const REDIS_PORT = Number(REDIS_TEST_URL.port || 6379)
const SLUICE_BIN = fileURLToPath(new URL('../../../cli/bin/sluice.mjs', import.meta.url))
/** The repository's example plugins. */
export const EXAMPLE_PLUGINS = fileURLToPath(new URL('../../../../examples/plugins/', import.meta.url))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A port nothing listens on right now (the OS picks it; a server started soon after gets it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })
}

/** How a spawned process ended. */
export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A `sluice serve` process. */
export interface SpawnedServer {
  readonly name: string
  readonly url: string
  readonly pid: number
  /** stderr lines so far: the server's JSON logs and its start banner. */
  readonly lines: string[]
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>
  /** SIGKILL: no shutdown at all. Resolves once the process is gone. */
  kill(): Promise<ExitStatus>
  /** SIGTERM: graceful shutdown. Resolves once the process is gone. */
  terminate(): Promise<ExitStatus>
  /** An admin API call with the test token; throws unless the answer is 2xx. */
  admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>
  /** The sum of a Prometheus counter over all its label sets. */
  metric(name: string): Promise<number>
}

const running = new Set<ChildProcess>()

/**
 * Starts `node apps/cli/bin/sluice.mjs serve` with `env` (and nothing else of this process's `SLUICE_*`
 * settings) on a free port, and resolves once `/readyz` answers 200. Rejects with the stderr tail when
 * the process exits or is not ready within `readyTimeoutMs`.
 */
export async function spawnServer(
  name: string,
  env: Record<string, string>,
  readyTimeoutMs = 90_000,
): Promise<SpawnedServer> {
  const port = await freePort()
  const dataDir = await mkdtemp(join(tmpdir(), `sluice-e2e-${name}-`))
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith('SLUICE_') && !['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS'].includes(key),
    ),
  )
  const child = spawn(process.execPath, [SLUICE_BIN, 'serve'], {
    cwd: dataDir,
    env: {
      ...inherited,
      SLUICE_PORT: String(port),
      SLUICE_DATA_DIR: dataDir,
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_INSTANCE_ID: name,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const lines: string[] = []
  const collect = (stream: NodeJS.ReadableStream) => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      lines.push(...parts.filter((line) => line !== ''))
    })
  }
  collect(child.stderr as NodeJS.ReadableStream)
  // kafkajs logs to stdout; kept with the rest so a failure shows it.
  collect(child.stdout as NodeJS.ReadableStream)
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child)
      void rm(dataDir, { recursive: true, force: true })
      resolve({ code, signal })
    })
  })
  const url = `http://127.0.0.1:${port}`
  const tail = () => lines.slice(-30).join('\n')

  let exitedEarly: ExitStatus | null = null
  void exited.then((status) => {
    exitedEarly = status
  })
  const deadline = Date.now() + readyTimeoutMs
  for (;;) {
    if (exitedEarly !== null) {
      throw new Error(`server ${name} exited while starting (${JSON.stringify(exitedEarly)}):\n${tail()}`)
    }
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    )
    if (ready) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`server ${name} was not ready within ${readyTimeoutMs} ms:\n${tail()}`)
    }
    await sleep(200)
  }

  const signal = (which: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(which)
    return exited
  }
  return {
    name,
    url,
    pid: child.pid ?? 0,
    lines,
    exited,
    kill: () => signal('SIGKILL'),
    terminate: () => signal('SIGTERM'),
    admin: (method, path, body) => callAdminOrThrow(url, ADMIN_TOKEN, method, path, body),
    async metric(metricName) {
      const text = await (await fetch(`${url}/metrics`)).text()
      let sum = 0
      for (const line of text.split('\n')) {
        const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
        if (match?.[1] === metricName) sum += Number(match[3])
      }
      return sum
    },
  }
}

/** SIGKILLs every spawned server still running (for afterAll, whatever happened before). */
export async function killAllServers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve())
          if (!child.kill('SIGKILL')) resolve()
        }),
    ),
  )
}

/** A database created for one test file. */
export interface TestDatabase {
  readonly url: string
  drop(): Promise<void>
}

/** `CREATE DATABASE e2e_<random>` on the test Postgres. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `e2e_${randomBytes(6).toString('hex')}`
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
  await client.connect()
  try {
    await client.query(`CREATE DATABASE ${name}`)
  } finally {
    await client.end()
  }
  const url = new URL(POSTGRES_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.href,
    async drop() {
      const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
      await admin.connect()
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await admin.end()
      }
    },
  }
}

/** Empties one Redis database (plugins' cache keys are per plugin id, which a fresh database reuses). */
export async function flushRedisDb(db: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: REDIS_HOST, port: REDIS_PORT })
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('data', (chunk: string) => {
      answer += chunk
      if (answer.split('\r\n').length > 2) {
        socket.end()
        if (answer.startsWith('+OK\r\n+OK')) resolve()
        else reject(new Error(`Redis refused SELECT ${db} / FLUSHDB: ${answer.trim()}`))
      }
    })
    socket.write(`SELECT ${db}\r\nFLUSHDB\r\n`)
  })
}

const kafka = () =>
  new Kafka({ clientId: 'sluice-e2e', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.ERROR })

/** Creates topics with the given partition counts (before any server uses them, so the layout is known). */
export async function createTopics(topics: { topic: string; partitions: number }[]): Promise<void> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map(({ topic, partitions }) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: 1,
      })),
    })
  } finally {
    await admin.disconnect()
  }
}

/** Deletes topics a test created (best effort: a broker may refuse topic deletion). */
export async function deleteTopics(topics: string[]): Promise<void> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics }).catch(() => {})
  } finally {
    await admin.disconnect()
  }
}

/** A processed event as the Kafka sink wrote it. */
export interface SinkEvent {
  uuid: string
  event: string
  distinct_id: string
  team_id: number
  properties: Record<string, unknown>
}

/** Everything read from the sink topic, by uuid. */
export interface SinkReader {
  /** uuid → every copy read, in order. */
  readonly byUuid: Map<string, SinkEvent[]>
  /** uuid → when the first copy was read (epoch ms). */
  readonly firstSeen: Map<string, number>
  /** Resolves once every uuid was read at least once; rejects with the missing count after `timeoutMs`. */
  waitFor(uuids: Iterable<string>, timeoutMs: number): Promise<void>
  /** Copies beyond the first, over all uuids. */
  duplicates(): number
  close(): Promise<void>
}

/** Reads the sink topic from its beginning with a kafkajs consumer of its own. */
export async function readSink(topic: string): Promise<SinkReader> {
  const consumer = kafka().consumer({ groupId: `e2e-reader-${randomUUID()}`, maxWaitTimeInMs: 100 })
  const byUuid = new Map<string, SinkEvent[]>()
  const firstSeen = new Map<string, number>()
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value?.toString('utf8') ?? 'null') as SinkEvent
      const copies = byUuid.get(event.uuid)
      if (copies) copies.push(event)
      else {
        byUuid.set(event.uuid, [event])
        firstSeen.set(event.uuid, Date.now())
      }
    },
  })
  return {
    byUuid,
    firstSeen,
    async waitFor(uuids, timeoutMs) {
      const wanted = [...uuids]
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const missing = wanted.filter((uuid) => !byUuid.has(uuid))
        if (missing.length === 0) return
        if (Date.now() > deadline) {
          throw new Error(
            `${missing.length} of ${wanted.length} events never reached the sink within ${timeoutMs} ms`,
          )
        }
        await sleep(100)
      }
    },
    duplicates() {
      let extra = 0
      for (const copies of byUuid.values()) extra += copies.length - 1
      return extra
    },
    close: () => consumer.disconnect(),
  }
}

/** One event the test sends, with the uuid it will be counted by. */
export interface TestEvent {
  uuid: string
  distinctId: string
  event: string
  properties: Record<string, unknown>
}

/** `count` events spread over `users` distinct ids (so over every partition), with a sequence number. */
export function makeEvents(
  count: number,
  options: { users?: number; run?: string; event?: (index: number) => string } = {},
): TestEvent[] {
  const users = options.users ?? 40
  const run = options.run ?? randomBytes(3).toString('hex')
  return Array.from({ length: count }, (_, index) => ({
    uuid: randomUUID(),
    distinctId: `user-${run}-${index % users}`,
    event: options.event?.(index) ?? 'e2e event',
    properties: { seq: index, email: `person${index % users}@example.com` },
  }))
}

/**
 * Sends `events` to `server` with the real posthog-node SDK, `perRequest` events per request,
 * pausing `pauseMs` between requests so the load lasts a while. `onSent` is told after each request
 * with the number sent so far. Rejects when the SDK reported an error.
 */
export async function sendEvents(
  server: Pick<SpawnedServer, 'url'>,
  events: readonly TestEvent[],
  options: {
    perRequest?: number
    pauseMs?: number
    onSent?: (sent: number) => void | Promise<void>
    /** Filled with uuid → when its request was sent (epoch ms). */
    sentAt?: Map<string, number>
  } = {},
): Promise<void> {
  const perRequest = options.perRequest ?? 50
  const errors: unknown[] = []
  const client = new PostHog('phc_e2e_test', {
    host: server.url,
    flushAt: perRequest,
    flushInterval: 0,
    fetchRetryCount: 0,
  })
  client.on('error', (error: unknown) => errors.push(error))
  for (let start = 0; start < events.length; start += perRequest) {
    for (const event of events.slice(start, start + perRequest)) {
      client.capture({
        uuid: event.uuid,
        distinctId: event.distinctId,
        event: event.event,
        properties: event.properties,
      })
    }
    const now = Date.now()
    for (const event of events.slice(start, start + perRequest)) options.sentAt?.set(event.uuid, now)
    await client.flush()
    if (errors.length > 0) break
    await options.onSent?.(Math.min(start + perRequest, events.length))
    if (options.pauseMs) await sleep(options.pauseMs)
  }
  await client.shutdown()
  if (errors.length > 0) {
    throw new Error(
      `posthog-node reported ${errors.length} error(s) sending to ${server.url}: ${String(errors[0])}`,
    )
  }
}

/** A plugin folder written by a test; `remove()` deletes it. */
export interface PluginFolder {
  readonly path: string
  remove(): Promise<void>
}

/** Writes a one-file plugin (`plugin.json` named `name`, `index.js` holding `source`) to a temporary folder. */
export async function writePlugin(name: string, source: string): Promise<PluginFolder> {
  const path = await mkdtemp(join(tmpdir(), 'sluice-e2e-plugin-'))
  await writeFile(join(path, 'plugin.json'), JSON.stringify({ name }))
  await writeFile(join(path, 'index.js'), source)
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

/** Installs a plugin through the admin API (`{ path }` or `{ files }`) and returns its id. */
export async function installPlugin(
  server: SpawnedServer,
  body: { path: string } | { files: Record<string, string> },
): Promise<number> {
  const plugin = await server.admin('POST', '/api/plugins', body)
  return plugin.id as number
}

/** Creates an enabled config of `pluginId` for `teamId` and returns its id. */
export async function createConfig(
  server: SpawnedServer,
  pluginId: number,
  options: { teamId?: number; order: number; config?: Record<string, unknown> },
): Promise<number> {
  const config = await server.admin('POST', '/api/configs', {
    pluginId,
    teamId: options.teamId ?? 1,
    enabled: true,
    order: options.order,
    config: options.config ?? {},
  })
  return config.id as number
}

/** Waits until every server has every config loaded and ready (changes reach instances through the bus). */
export async function waitForConfigsReady(
  servers: readonly SpawnedServer[],
  configIds: readonly number[],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const server of servers) {
    for (const id of configIds) {
      for (;;) {
        const config = await server.admin('GET', `/api/configs/${id}`)
        const status = (config.live as { status?: string } | undefined)?.status
        if (status === 'ready') break
        if (Date.now() > deadline) {
          throw new Error(
            `config ${id} is ${status ?? 'unknown'} on ${server.name} after ${timeoutMs} ms (error: ${JSON.stringify(config.error)})`,
          )
        }
        await sleep(200)
      }
    }
  }
}

/** What a cluster test needs: a fresh database, a Redis database, fresh topics and a group. */
export interface ClusterEnv {
  readonly env: Record<string, string>
  readonly ingestionTopic: string
  readonly sinkTopic: string
  /** Partitions of the ingestion topic. */
  readonly partitions: number
  readonly database: TestDatabase
  cleanup(): Promise<void>
}

/**
 * Prepares a cluster of servers sharing one database, one Redis database (`redisDb`, 1–15, unique per
 * test file), one ingestion topic with `partitions` partitions, one consumer group and one sink topic.
 */
export async function prepareCluster(options: {
  redisDb: number
  partitions?: number
  env?: Record<string, string>
}): Promise<ClusterEnv> {
  const run = randomBytes(4).toString('hex')
  const partitions = options.partitions ?? 8
  const ingestionTopic = `e2e_in_${run}`
  const sinkTopic = `e2e_out_${run}`
  const database = await createTestDatabase()
  await flushRedisDb(options.redisDb)
  await createTopics([
    { topic: ingestionTopic, partitions },
    { topic: sinkTopic, partitions: 4 },
  ])
  return {
    env: {
      SLUICE_QUEUE: 'kafka',
      KAFKA_BROKERS,
      DATABASE_URL: database.url,
      REDIS_URL: `redis://${REDIS_HOST}:${REDIS_PORT}/${options.redisDb}`,
      SLUICE_INGESTION_TOPIC: ingestionTopic,
      SLUICE_CONSUMER_GROUP: `e2e_group_${run}`,
      SLUICE_SINKS: `kafka:${sinkTopic}`,
      SLUICE_LOG_LEVEL: 'info',
      ...options.env,
    },
    ingestionTopic,
    sinkTopic,
    partitions,
    database,
    async cleanup() {
      await deleteTopics([ingestionTopic, sinkTopic]).catch(() => {})
      await database.drop()
    },
  }
}

/** A plugin a cluster installs: an example's folder name, or a one-file plugin the test writes. */
export type PluginSpec =
  | { example: string; config?: Record<string, unknown> }
  | { name: string; source: string; config?: Record<string, unknown> }

/** Two instances sharing one pipeline, with plugins installed and the sink being read. */
export interface TwoInstances {
  readonly cluster: ClusterEnv
  readonly a: SpawnedServer
  readonly b: SpawnedServer
  readonly reader: SinkReader
  /** The plugin config ids, in the order of `plugins`. */
  readonly configIds: readonly number[]
}

/**
 * Prepares a cluster, starts instances `a` and `b` on it, installs `plugins` for team 1 in that order
 * through `a`'s admin API, waits until both run them, and starts reading the sink. Call
 * {@link closeTwoInstances} in afterAll, whatever happened.
 */
export async function startTwoInstances(options: {
  redisDb: number
  partitions?: number
  env?: Record<string, string>
  plugins: readonly PluginSpec[]
}): Promise<TwoInstances> {
  const cluster = await prepareCluster(options)
  pending.add(cluster)
  const [a, b] = await Promise.all([spawnServer('a', cluster.env), spawnServer('b', cluster.env)])
  const configIds: number[] = []
  for (const [index, plugin] of options.plugins.entries()) {
    let pluginId: number
    if ('example' in plugin)
      pluginId = await installPlugin(a, { path: join(EXAMPLE_PLUGINS, plugin.example) })
    else {
      const folder = await writePlugin(plugin.name, plugin.source)
      try {
        pluginId = await installPlugin(a, { path: folder.path })
      } finally {
        await folder.remove()
      }
    }
    configIds.push(await createConfig(a, pluginId, { order: index + 1, config: plugin.config ?? {} }))
  }
  await waitForConfigsReady([a, b], configIds)
  const reader = await readSink(cluster.sinkTopic)
  readers.add(reader)
  return { cluster, a, b, reader, configIds }
}

const pending = new Set<ClusterEnv>()
const readers = new Set<SinkReader>()

/** Stops the sink readers, kills every spawned server, and drops the clusters' databases and topics. */
export async function closeTwoInstances(): Promise<void> {
  for (const reader of readers) await reader.close().catch(() => {})
  readers.clear()
  await killAllServers()
  for (const cluster of pending) await cluster.cleanup()
  pending.clear()
}

/** A processEvent plugin that busy-waits `ms` per event (so instances fall behind a load) and stamps it. */
const slowStampSource = (ms: number) =>
  `export function processEvent(event) {\n  const until = Date.now() + ${ms}\n  while (Date.now() < until) {}\n  event.properties = { ...event.properties, stamped: true }\n  return event\n}\n`

/** Events per batch in the stop tests: small, so an instance stopped mid-load is in the middle of slices. */
export const STOP_TEST_MAX_BATCH_SIZE = 50

/**
 * Two instances for the stop tests: small batches, and 4 ms of plugin work per event after
 * strip-pii, so the instances fall behind the load and the stopped one is mid-slice when stopped.
 */
export const startTwoSlowInstances = (options: { redisDb: number; partitions?: number }) =>
  startTwoInstances({
    ...options,
    env: { SLUICE_MAX_BATCH_SIZE: String(STOP_TEST_MAX_BATCH_SIZE) },
    plugins: [{ example: 'strip-pii' }, { name: 'E2E slow stamp', source: slowStampSource(4) }],
  })

/**
 * The stop tests' load: 400 events sent to both instances (every request answered, so every
 * event is in Kafka), then 2,000 to `b` in requests of 50 every 50 ms. Once 600 of those are sent
 * (mid-load: both instances are working through a backlog) and `a` has processed events, `stop(a)`
 * runs. Resolves to every event sent and how many had reached the sink at the stop.
 */
export async function loadAndStopOneMidway(
  test: TwoInstances,
  stop: (a: SpawnedServer) => Promise<void>,
): Promise<{ all: TestEvent[]; reachedSinkAtStop: number }> {
  const { a, b, reader } = test
  const early = makeEvents(400)
  await Promise.all([sendEvents(a, early.slice(0, 200)), sendEvents(b, early.slice(200))])
  const late = makeEvents(2000)
  let reachedSinkAtStop = -1
  await sendEvents(b, late, {
    perRequest: 50,
    pauseMs: 50,
    onSent: async (sent) => {
      if (reachedSinkAtStop >= 0 || sent < 600) return
      const processed = await a.metric('sluice_plugin_events_in_total')
      if (!(processed > 0))
        throw new Error(`instance a had processed no events before the stop (${processed})`)
      reachedSinkAtStop = reader.byUuid.size
      await stop(a)
    },
  })
  if (reachedSinkAtStop < 0) throw new Error('the load ended before instance a was stopped')
  return { all: [...early, ...late], reachedSinkAtStop }
}

/**
 * Waits until every event of `sent` reached the sink, checks each went through both of
 * {@link startTwoSlowInstances}' plugins (stamped, email stripped), and returns the duplicate
 * deliveries counted.
 */
export async function expectEverySlowStampedEvent(
  reader: SinkReader,
  sent: readonly TestEvent[],
  timeoutMs: number,
): Promise<number> {
  await reader.waitFor(
    sent.map((event) => event.uuid),
    timeoutMs,
  )
  for (const event of sent) {
    const [received] = reader.byUuid.get(event.uuid) ?? []
    expect(received?.properties).toMatchObject({ seq: event.properties.seq, stamped: true })
    expect(received?.properties).not.toHaveProperty('email')
  }
  return reader.duplicates()
}
