// Two server instances in one process, sharing Kafka, one Postgres database and one Redis: config
// changes, schedules and jobs across instances (issue 5, item 5). The process-level end-to-end tests
// (kill -9, SIGTERM) live in test/e2e/.
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServerConfig } from '../src/config.js'
import { createJsonLogger } from '../src/logger.js'
import { type SluiceServer, startServer } from '../src/server.js'
import { callAdmin } from './admin-client.js'
import { ADMIN_TOKEN, waitFor } from './support.js'

const POSTGRES = process.env.SLUICE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const KAFKA = process.env.SLUICE_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092'
const REDIS = `${process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'}/10`

const PLUGIN = {
  'plugin.json': JSON.stringify({
    name: 'multi',
    main: 'index.js',
    config: [{ key: 'label', name: 'Label', type: 'string', default: 'first' }],
    publicJobs: { work: { payload: { n: { type: 'number', required: true } } } },
  }),
  'index.js': `
export function processEvent(event, { config }) {
  event.properties = { ...event.properties, label: config.label }
  return event
}
export function runEveryMinute({ global }) {
  global.runs = (global.runs ?? 0) + 1
  posthog.capture('tick', { distinct_id: 'scheduler', run: global.runs })
}
export const jobs = {
  work: async (payload) => {
    posthog.capture('job ran', { distinct_id: 'jobs', n: payload.n })
  },
}
`,
}

describe('two instances on Kafka, Postgres and Redis', { timeout: 60_000 }, () => {
  const database = `sluice_multi_${randomUUID().slice(0, 8)}`
  const topic = `multi_${randomUUID().slice(0, 8)}`
  const admin = new pg.Client({ connectionString: POSTGRES })
  let dataDir = ''
  const servers: SluiceServer[] = []

  const start = async (name: string) => {
    const url = new URL(POSTGRES)
    url.pathname = `/${database}`
    const config = loadServerConfig(
      {
        SLUICE_PORT: '0',
        SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
        SLUICE_QUEUE: 'kafka',
        KAFKA_BROKERS: KAFKA,
        DATABASE_URL: url.href,
        REDIS_URL: REDIS,
        SLUICE_INGESTION_TOPIC: topic,
        SLUICE_CONSUMER_GROUP: topic,
        SLUICE_SINKS: `file:${join(dataDir, `${name}.jsonl`)}`,
        SLUICE_INSTANCE_ID: name,
      },
      dataDir,
    )
    const log = createJsonLogger({ stream: new PassThrough().resume(), level: 'error', instanceId: name })
    const server = await startServer(config, log)
    servers.push(server)
    return server
  }

  const call = (server: SluiceServer, method: string, path: string, body?: unknown) =>
    callAdmin(server.url, ADMIN_TOKEN, method, path, body)

  const sinkEvents = async () => {
    const events: { event: string; team_id: number; properties: Record<string, unknown> }[] = []
    for (const name of ['a', 'b']) {
      const text = await readFile(join(dataDir, `${name}.jsonl`), 'utf8').catch(() => '')
      for (const line of text.split('\n').filter(Boolean)) events.push(JSON.parse(line))
    }
    return events
  }

  let a: SluiceServer
  let b: SluiceServer
  const configIds: number[] = []

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-multi-'))
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
    a = await start('a')
    b = await start('b')
    const plugin = await call(a, 'POST', '/api/plugins', { files: PLUGIN })
    expect(plugin.status).toBe(201)
    for (const teamId of [1, 2]) {
      const config = await call(a, 'POST', '/api/configs', {
        pluginId: plugin.body.id,
        teamId,
        enabled: true,
      })
      expect(config.status).toBe(201)
      configIds.push(config.body.id)
    }
    for (const server of [a, b]) {
      for (const id of configIds) {
        await waitFor(
          `config ${id} on ${server.instanceId}`,
          () => server.runtime.configs.get(id)?.status === 'ready',
        )
      }
    }
  }, 120_000)

  afterAll(async () => {
    for (const server of servers) await server.stop().catch(() => {})
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {})
    await admin.end()
    await rm(dataDir, { recursive: true, force: true })
  }, 60_000)

  it('a config change made through one instance reaches the other within 2 s and reloads only that config', async () => {
    const [changed, untouched] = configIds as [number, number]
    const before = {
      changed: b.runtime.configs.get(changed),
      untouched: b.runtime.configs.get(untouched),
    }
    const sentAt = Date.now()
    const patched = await call(a, 'PATCH', `/api/configs/${changed}`, { config: { label: 'second' } })
    expect(patched.status).toBe(200)
    const reloaded = await waitFor('the change on instance b', () => {
      const live = b.runtime.configs.get(changed)
      return live && live !== before.changed && live.status === 'ready' ? live : undefined
    })
    const elapsed = Date.now() - sentAt
    expect(elapsed).toBeLessThan(2000)
    expect(reloaded.revision).toBe((before.changed?.revision ?? 0) + 1)
    expect(b.runtime.configs.get(untouched)).toBe(before.untouched)
    expect(a.runtime.configs.get(untouched)?.revision).toBe(before.untouched?.revision)
  })

  it('exactly one instance runs the schedules', async () => {
    await waitFor(
      'a scheduler leader',
      () => a.runtime.scheduler.isLeader() || b.runtime.scheduler.isLeader(),
    )
    expect([a.runtime.scheduler.isLeader(), b.runtime.scheduler.isLeader()].filter(Boolean)).toHaveLength(1)
    await Promise.all([
      a.runtime.scheduler.runPeriod('runEveryMinute'),
      b.runtime.scheduler.runPeriod('runEveryMinute'),
    ])
    // The real minute tick may also fire during the test, on the leader. Each instance numbers its
    // own runs per config (meta.global), so a run made by both instances shows up as one
    // (team, run) pair seen twice, whatever the clock did.
    const ticksOf = async () => (await sinkEvents()).filter((event) => event.event === 'tick')
    await waitFor('a tick of every config', async () => {
      const teams = new Set((await ticksOf()).map((event) => event.team_id))
      return teams.size >= configIds.length ? true : undefined
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const pairs = (await ticksOf()).map((event) => `${event.team_id}:${event.properties.run}`)
    expect(pairs.length).toBeGreaterThanOrEqual(configIds.length)
    expect(new Set(pairs).size).toBe(pairs.length)
  })

  it('each job runs once, whichever instance it was triggered on', async () => {
    const [configId] = configIds as [number]
    for (let n = 0; n < 20; n += 1) {
      const triggered = await call(n % 2 === 0 ? a : b, 'POST', `/api/configs/${configId}/jobs/work`, {
        payload: { n },
      })
      expect(triggered.status).toBe(202)
    }
    const runs = await waitFor('20 job runs', async () => {
      const found = (await sinkEvents()).filter((event) => event.event === 'job ran')
      return found.length >= 20 ? found : undefined
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const all = (await sinkEvents()).filter((event) => event.event === 'job ran')
    expect(all).toHaveLength(20)
    expect(new Set(runs.map((event) => event.properties.n)).size).toBe(20)
  })
})
