import { describe, expect, it } from 'vitest'
import { createAdminHarness, TOKEN } from '../../test/admin-harness.js'
import { createAdminRoutes } from './admin-api.js'
import type { ConfigHealthControl } from './context.js'

const HINT = 'the token is the server setting SLUICE_ADMIN_TOKEN'

describe('authentication', () => {
  const admin = createAdminHarness()

  it('answers 401 without the header, with another scheme, or with a wrong token, never echoing it', async () => {
    const cases: [string | null, Record<string, string>, string][] = [
      [null, {}, `the admin API needs an Authorization: Bearer <token> header; ${HINT}`],
      [
        null,
        { authorization: `Basic ${TOKEN}` },
        `the Authorization header must be "Bearer <token>"; ${HINT}`,
      ],
      ['wrong-token-wrong-token', {}, `the bearer token is wrong; ${HINT}`],
      [`${TOKEN}x`, {}, `the bearer token is wrong; ${HINT}`],
    ]
    for (const [token, headers, error] of cases) {
      const result = await admin.call('GET', '/api/plugins', { token, headers })
      expect(result.status).toBe(401)
      expect(result.body).toEqual({ error })
      expect(result.headers['www-authenticate']).toBe('Bearer realm="sluice-admin"')
      expect(result.text).not.toContain('wrong-token')
    }
  })

  it('checks the token before reading the body or the ids', async () => {
    const result = await admin.call('DELETE', '/api/plugins/1', { token: 'nope' })
    expect(result.status).toBe(401)
    expect(await admin.call('GET', '/api/plugins')).toMatchObject({ status: 200, body: { plugins: [] } })
  })

  it('guards every admin route', async () => {
    const routes = createAdminRoutes({
      ...admin,
      verifyToken: (presented) => presented === TOKEN,
      announceConfigChange: async () => {},
    })
    for (const route of routes) {
      const path = route.path.replace(/:\w+/g, '1')
      const result = await admin.call(route.method, path, { token: null, json: {} })
      expect([route.method, route.path, result.status]).toEqual([route.method, route.path, 401])
    }
  })
})

describe('logs and metrics', () => {
  it('queries the config logs by level, time and limit, newest first', async () => {
    const admin = createAdminHarness()
    const pluginId = await admin.installPlugin()
    const { body } = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { apiKey: 'k' } },
    })
    const entry = (level: 'info' | 'warn' | 'error', timestamp: number, message: string) => ({
      configId: body.id,
      teamId: 2,
      level,
      source: 'plugin' as const,
      message,
      timestamp,
      instanceId: 'i1',
    })
    await admin.logSink.append([
      entry('info', 1000, 'one'),
      entry('warn', 2000, 'two'),
      entry('error', 3000, 'three'),
      { ...entry('error', 3000, 'other config'), configId: body.id + 1 },
    ])
    const messages = async (query: string) =>
      (await admin.call('GET', `/api/configs/${body.id}/logs${query}`)).body.logs.map(
        (log: { message: string }) => log.message,
      )
    expect(await messages('')).toEqual(['three', 'two', 'one'])
    expect(await messages('?level=warn,error')).toEqual(['three', 'two'])
    expect(await messages('?since=2000')).toEqual(['three', 'two'])
    expect(await messages(`?since=${new Date(2500).toISOString()}`)).toEqual(['three'])
    expect(await messages('?limit=1')).toEqual(['three'])
    const badLevel = await admin.call('GET', `/api/configs/${body.id}/logs?level=loud`)
    expect(badLevel.body.error).toBe(
      'level loud is unknown: use debug, log, info, warn, error (comma-separated)',
    )
    const badSince = await admin.call('GET', `/api/configs/${body.id}/logs?since=yesterday`)
    expect(badSince.body.error).toBe(
      'since must be epoch milliseconds or an ISO date like 2025-01-31T12:00:00Z',
    )
    expect((await admin.call('GET', `/api/configs/${body.id}/logs?limit=0`)).body.error).toBe(
      'limit must be a whole number from 1 to 1000',
    )
    expect((await admin.call('GET', '/api/configs/99/logs')).status).toBe(404)
  })

  it('reads the config metrics', async () => {
    const admin = createAdminHarness()
    const pluginId = await admin.installPlugin()
    const { body } = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { apiKey: 'k' } },
    })
    await admin.metricsSink.update([{ configId: body.id, name: 'events_seen', operation: 'sum', value: 3 }])
    const metrics = await admin.call('GET', `/api/configs/${body.id}/metrics`)
    expect(metrics.body).toEqual({ configId: body.id, metrics: { events_seen: 3 } })
  })
})

describe('public jobs', () => {
  async function setup(enabled = true) {
    const admin = createAdminHarness()
    const pluginId = await admin.installPlugin()
    const { body } = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, enabled, config: { apiKey: 'k' } },
    })
    const claim = () =>
      admin.jobQueue.claim({ now: Number.MAX_SAFE_INTEGER, limit: 10, owner: 't', leaseMs: 1000 })
    return { admin, id: body.id as number, claim }
  }

  it('lists the public jobs with their payload forms', async () => {
    const { admin, id } = await setup()
    const jobs = await admin.call('GET', `/api/configs/${id}/jobs`)
    expect(jobs.body).toEqual({
      configId: id,
      jobs: [
        {
          name: 'backfill',
          payload: {
            from: { type: 'date', required: true },
            dryRun: { type: 'boolean', default: false },
            limit: { type: 'number' },
          },
        },
        { name: 'ping', payload: {} },
      ],
    })
  })

  it('enqueues a valid run as the plugin job the job runner runs, due now, defaults applied', async () => {
    const { admin, id, claim } = await setup()
    const run = await admin.call('POST', `/api/configs/${id}/jobs/backfill`, {
      json: { payload: { from: '2025-01-01T00:00:00Z', limit: 10 } },
    })
    expect(run.status).toBe(202)
    const payload = { from: '2025-01-01T00:00:00Z', dryRun: false, limit: 10 }
    expect(run.body).toEqual({ jobId: expect.any(String), configId: id, name: 'backfill', payload })
    const [job] = await claim()
    expect(job).toMatchObject({
      id: run.body.jobId,
      kind: 'plugin-job',
      configId: id,
      name: 'backfill',
      runAt: 1_700_000_000_000,
      attempt: 0,
    })
    expect(JSON.parse(job?.payload ?? '')).toEqual(payload)
    expect((await admin.call('POST', `/api/configs/${id}/jobs/ping`, { json: {} })).status).toBe(202)
  })

  it('lists every payload problem, and refuses unknown jobs and disabled configs', async () => {
    const { admin, id, claim } = await setup()
    const bad = await admin.call('POST', `/api/configs/${id}/jobs/backfill`, {
      json: { payload: { dryRun: 'yes', limit: 'ten', extra: 1 } },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.problems).toEqual([
      { field: 'from', message: 'is required' },
      { field: 'dryRun', message: 'must be true or false' },
      { field: 'limit', message: 'must be a number' },
      { field: 'extra', message: 'is not a payload field of this job' },
    ])
    expect(bad.body.error).toMatch(/^the payload of job backfill is invalid: from: is required; /)
    const unknown = await admin.call('POST', `/api/configs/${id}/jobs/rebuild`, { json: {} })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toBe(
      'plugin hello has no public job rebuild: its public jobs are backfill, ping',
    )
    expect(await claim()).toEqual([])

    const disabled = await setup(false)
    const refused = await disabled.admin.call('POST', `/api/configs/${disabled.id}/jobs/ping`, { json: {} })
    expect(refused.status).toBe(409)
    expect(refused.body.error).toBe(
      `plugin config ${disabled.id} is disabled: enable it (PATCH {"enabled": true}) to run its jobs`,
    )
  })
})

describe('health', () => {
  function healthWatcher() {
    const calls: string[] = []
    const states = new Map<number, { state: string; pausedForMs?: number }>()
    return {
      calls,
      health: {
        get: (id: number) => states.get(id) ?? { state: 'healthy' },
        reset: (id: number) => {
          calls.push(`reset ${id}`)
          states.set(id, { state: 'healthy' })
        },
        pause: async (id: number, ms: number) => {
          calls.push(`pause ${id} ${ms}`)
          states.set(id, { state: 'paused', pausedForMs: ms })
        },
        // A stand-in with the watcher's shape: the routes pass its states through untouched.
      } as unknown as ConfigHealthControl,
    }
  }

  it('shows the state and passes reset and pause to the health watcher', async () => {
    const watcher = healthWatcher()
    const admin = createAdminHarness({ health: watcher.health })
    const pluginId = await admin.installPlugin()
    const { body } = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { apiKey: 'k' } },
    })
    const path = `/api/configs/${body.id}/health`
    expect((await admin.call('GET', path)).body).toEqual({ configId: body.id, health: { state: 'healthy' } })
    const paused = await admin.call('POST', path, { json: { action: 'pause', ms: 60_000 } })
    expect(paused.body).toEqual({ configId: body.id, health: { state: 'paused', pausedForMs: 60_000 } })
    await admin.call('POST', path, { json: { action: 'reset' } })
    expect(watcher.calls).toEqual([`pause ${body.id} 60000`, `reset ${body.id}`])

    const cases: [unknown, string][] = [
      [{ action: 'pause' }, 'a pause needs ms: how long to pause, in milliseconds'],
      [{ action: 'pause', ms: -1 }, 'ms must be a whole number from 1 to 604800000'],
      [{ action: 'reset', ms: 5 }, 'ms goes with "pause" only: leave it out of a reset'],
      [{ action: 'disable' }, 'action must be "reset" or "pause" (with ms)'],
    ]
    for (const [json, error] of cases) {
      expect((await admin.call('POST', path, { json })).body.error).toBe(error)
    }
    expect(watcher.calls).toHaveLength(2)
  })

  it('answers 501 when no health watcher is running', async () => {
    const admin = createAdminHarness()
    const result = await admin.call('GET', '/api/configs/1/health')
    expect(result.status).toBe(501)
    expect(result.body.error).toBe(
      'the health watcher is not running on this server, so there is no health state',
    )
  })
})

describe('dead letters', () => {
  async function withDeadLetters(
    replay?: (ids: readonly string[]) => Promise<{ results: { id: string; status: string }[] }>,
  ) {
    const admin = createAdminHarness(replay ? { replayDeadLetters: replay } : {})
    const ids = await admin.deadLetters.put([
      { source: 'ingestion', reason: 'not JSON', payload: '{', teamId: null, configId: null },
      { source: 'export-events', reason: 'gave up after 3 tries', payload: '[]', teamId: 2, configId: 1 },
      { source: 'webhook', reason: '500 from the target', payload: '{}', teamId: 2, configId: 2 },
    ])
    return { admin, ids }
  }

  it('lists dead letters by source, team and config, a page at a time', async () => {
    const { admin, ids } = await withDeadLetters()
    const list = async (query: string) => (await admin.call('GET', `/api/dead-letters${query}`)).body
    expect((await list('')).deadLetters.map((entry: { id: string }) => entry.id)).toEqual(ids)
    expect((await list('?source=webhook')).deadLetters.map((entry: { id: string }) => entry.id)).toEqual([
      ids[2],
    ])
    expect((await list('?team=2&config=1')).deadLetters.map((entry: { id: string }) => entry.id)).toEqual([
      ids[1],
    ])
    const page = await list('?limit=2')
    expect([page.deadLetters.length, page.next]).toEqual([2, ids[1]])
    const rest = await list(`?limit=2&after=${page.next}`)
    expect([rest.deadLetters.map((entry: { id: string }) => entry.id), rest.next]).toEqual([[ids[2]], null])
    expect((await admin.call('GET', '/api/dead-letters?source=mail')).body.error).toBe(
      'source mail is unknown: use one of ingestion, export-events, webhook, capture, sink, job',
    )
  })

  it('shows one dead letter, and 404s an unknown id', async () => {
    const { admin, ids } = await withDeadLetters()
    const one = await admin.call('GET', `/api/dead-letters/${ids[0]}`)
    expect(one.body).toMatchObject({ id: ids[0], source: 'ingestion', reason: 'not JSON', payload: '{' })
    const missing = await admin.call('GET', '/api/dead-letters/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.error).toBe('no dead letter with id nope: GET /api/dead-letters lists them')
  })

  it('replays through the injected replay and returns its outcome per id', async () => {
    const asked: (readonly string[])[] = []
    const { admin, ids } = await withDeadLetters(async (replayIds) => {
      asked.push(replayIds)
      return { results: replayIds.map((id) => ({ id, status: id === 'x' ? 'not-found' : 'replayed' })) }
    })
    const replay = await admin.call('POST', '/api/dead-letters/replay', { json: { ids: [ids[0], 'x'] } })
    expect(replay.body).toEqual({
      results: [
        { id: ids[0], status: 'replayed' },
        { id: 'x', status: 'not-found' },
      ],
    })
    expect(asked).toEqual([[ids[0], 'x']])
    for (const json of [{ ids: [] }, { ids: [1] }, { ids: 'a' }, {}]) {
      const bad = await admin.call('POST', '/api/dead-letters/replay', { json })
      expect(bad.body.error).toBe(
        'ids must be a list of 1 to 1000 dead-letter ids (strings) from GET /api/dead-letters',
      )
    }
    expect(asked).toHaveLength(1)
  })

  it('answers 501 for a replay when none is available', async () => {
    const { admin, ids } = await withDeadLetters()
    const result = await admin.call('POST', '/api/dead-letters/replay', { json: { ids } })
    expect(result.status).toBe(501)
  })
})

describe('request bodies', () => {
  it('answers 413 for a JSON body over the server limit, in words fit for the admin API', async () => {
    const admin = createAdminHarness()
    const result = await admin.call('POST', '/api/configs', { json: { teamId: 2 }, maxBodyBytes: 4 })
    expect(result.status).toBe(413)
    expect(result.body.error).toBe("the JSON body is larger than the server's body limit: send a smaller one")
  })

  it('says so for an empty body', async () => {
    const admin = createAdminHarness()
    const result = await admin.call('POST', '/api/configs', { contentType: 'application/json' })
    expect(result.body.error).toBe(
      'the request body is empty: send a JSON object with Content-Type: application/json',
    )
  })
})

describe('reload', () => {
  it('announces a config change to every instance', async () => {
    const admin = createAdminHarness()
    expect((await admin.call('POST', '/api/reload')).status).toBe(202)
    expect(admin.announcements).toHaveLength(1)
  })
})
