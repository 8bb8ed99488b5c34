import { PGlite } from '@electric-sql/pglite'
import { JobQueueError, type MetricUpdate, type ProcessedPluginEvent } from '@sluice/core'
import { afterAll, describe, expect, it } from 'vitest'
import { describeStoreConformance, readSinkTable, storeFactories } from '../test/support.js'
import { createPostgresStore, type PostgresStoreOptions, SINK_EVENTS_PER_STATEMENT } from './index.js'
import { foldMetricUpdates } from './metrics-sink.js'

// Every conformance suite over embedded PGlite, in the unit pass: PGlite runs in this process, so
// no service is needed. Opening an instance takes seconds, so the whole file shares one, and each
// test gets a schema of its own. Two stores over one instance share data the way two processes
// share a server, so the durable and cross-instance cases run here too (the stores themselves
// report PGlite as neither shared nor, in memory, durable).
const pglite = await PGlite.create()
const stores = storeFactories({ pglite })
const query = (sql: string, params?: unknown[]) => pglite.query<Record<string, unknown>>(sql, params)
afterAll(() => pglite.close())

describeStoreConformance('pglite', stores, query)

// What the conformance suites leave open: the store's own choices, on the same PGlite.
let schemaCounter = 0
const openStore = () => {
  schemaCounter += 1
  return createPostgresStore({ pglite, schema: `sluice_unit_${schemaCounter}` })
}
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )
const event = (overrides: Partial<ProcessedPluginEvent> = {}): ProcessedPluginEvent => ({
  uuid: crypto.randomUUID(),
  distinct_id: 'user-1',
  ip: null,
  team_id: 2,
  event: '$pageview',
  timestamp: '2026-01-01T12:00:00.000Z',
  properties: {},
  ...overrides,
})

describe('createPostgresStore over PGlite', () => {
  it('reports PGlite as neither shared across processes nor, in memory, durable', async () => {
    const store = await openStore()
    expect(store.driver).toBe('pglite')
    expect(store.storage.capabilities).toEqual({ durable: false, sharedAcrossInstances: false })
    expect(store.jobQueue.capabilities).toEqual({ durable: false, sharedAcrossInstances: false })
    expect(store.bus.capabilities).toEqual({ sharedAcrossInstances: false })
    await store.close()
  })

  it('refuses a schema name that is not a plain lowercase identifier, and options without a database', async () => {
    for (const schema of ['Sluice', 'a-b', 'x; DROP TABLE y', '', 'a'.repeat(64)]) {
      expect(await rejection(createPostgresStore({ pglite, schema }))).toMatchObject({
        code: 'postgres.invalid_option',
        retryable: false,
      })
    }
    expect(await rejection(createPostgresStore({} as PostgresStoreOptions))).toMatchObject({
      code: 'postgres.invalid_option',
      message: expect.stringMatching(/url.*dataDir.*pglite/),
    })
  })

  it('after close every port rejects with a non-retryable closed error, and a PGlite it did not open stays open', async () => {
    const store = await openStore()
    await store.close()
    await store.close()
    expect(await rejection(store.storage.get('s', 'k'))).toMatchObject({
      code: 'storage.closed',
      retryable: false,
    })
    expect(await rejection(store.jobQueue.count())).toMatchObject({ code: 'job-queue.closed' })
    expect(await rejection(store.bus.publish('c', 'm'))).toMatchObject({ code: 'bus.closed' })
    expect(await rejection(store.createSink({ table: 'events' }).write([event()]))).toMatchObject({
      code: 'sink.closed',
    })
    expect((await pglite.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  })

  describe('storage', () => {
    it('rejects text that is not JSON before it reaches the database', async () => {
      const store = await openStore()
      for (const write of [
        store.storage.set('s', 'k', 'not json'),
        store.storage.setIfAbsent('s', 'k', '{'),
      ]) {
        expect(await rejection(write)).toMatchObject({ code: 'storage.invalid_json', retryable: false })
      }
      expect(await store.storage.get('s', 'k')).toBeNull()
      await store.close()
    })

    it('adds in IEEE doubles exactly as JavaScript does, and reports overflow', async () => {
      const store = await openStore()
      await store.storage.set('s', 'n', '0.1')
      expect(await store.storage.increment('s', 'n', 0.2)).toBe(0.1 + 0.2)
      expect(JSON.parse((await store.storage.get('s', 'n')) as string)).toBe(0.1 + 0.2)
      expect(await store.storage.increment('s', 'big', 1e21)).toBe(1e21)
      await store.storage.set('s', 'max', String(Number.MAX_VALUE))
      expect(await rejection(store.storage.increment('s', 'max', Number.MAX_VALUE))).toMatchObject({
        code: 'storage.overflow',
        retryable: false,
      })
      expect(await rejection(store.storage.increment('s', 'n', Number.NaN))).toMatchObject({
        code: 'storage.invalid_increment',
      })
      await store.close()
    })

    it('refuses a JSON string with a NUL character (jsonb cannot hold it), saying so', async () => {
      const store = await openStore()
      const error = await rejection(store.storage.set('s', 'k', JSON.stringify('a\u0000b')))
      expect(error).toMatchObject({ code: 'storage.invalid_input', retryable: false })
      expect((error as Error).message).toMatch(/NUL/)
      await store.close()
    })
  })

  describe('log retention', () => {
    const entry = (timestamp: number) => ({
      configId: 1,
      teamId: 2,
      level: 'info' as const,
      source: 'plugin' as const,
      message: `at ${timestamp}`,
      timestamp,
      instanceId: 'i',
    })

    it('deletes entries older than the retention when appending, at most once a minute', async () => {
      schemaCounter += 1
      let now = 10_000
      const store = await createPostgresStore({
        pglite,
        schema: `sluice_unit_${schemaCounter}`,
        clock: { now: () => now },
        logRetentionMs: 5_000,
      })
      await store.logSink.append([entry(1_000), entry(9_000)])
      expect((await store.logSink.query({ configId: 1 })).map((e) => e.timestamp)).toEqual([9_000, 1_000])
      now = 20_000
      await store.logSink.append([entry(19_000)])
      expect((await store.logSink.query({ configId: 1 })).map((e) => e.timestamp)).toEqual([
        19_000, 9_000, 1_000,
      ])
      now = 70_001
      await store.logSink.append([entry(70_000)])
      expect((await store.logSink.query({ configId: 1 })).map((e) => e.timestamp)).toEqual([70_000])
      await store.close()
    })

    it('keeps everything with logRetentionMs: null', async () => {
      schemaCounter += 1
      const store = await createPostgresStore({
        pglite,
        schema: `sluice_unit_${schemaCounter}`,
        logRetentionMs: null,
      })
      await store.logSink.append([entry(1), entry(2)])
      await store.logSink.append([entry(3)])
      expect(await store.logSink.query({ configId: 1 })).toHaveLength(3)
      await store.close()
    })
  })

  describe('job queue', () => {
    it('settles nothing for ids it never handed out, whatever their shape', async () => {
      const store = await openStore()
      for (const id of ['', 'abc', '-1', '0', '1.5', '99999999999999999999', '9223372036854775808']) {
        expect(await store.jobQueue.complete(id, 'owner')).toBe(false)
        expect(await store.jobQueue.reschedule(id, 'owner', 0, 1)).toBe(false)
      }
      await store.close()
    })

    it('rejects invalid jobs and claims with a non-retryable JobQueueError, storing nothing', async () => {
      const store = await openStore()
      const job = { kind: 'plugin-job', configId: 1, name: 'sync', payload: '{}', runAt: 0 }
      expect(await rejection(store.jobQueue.enqueue([{ ...job, runAt: Number.NaN }]))).toBeInstanceOf(
        JobQueueError,
      )
      expect(await rejection(store.jobQueue.enqueue([job, { ...job, attempt: -1 }]))).toMatchObject({
        code: 'job-queue.invalid',
        retryable: false,
      })
      expect(
        await rejection(store.jobQueue.claim({ now: 0, limit: 1, owner: '', leaseMs: 10 })),
      ).toMatchObject({
        message: expect.stringMatching(/owner/),
      })
      expect(await store.jobQueue.count()).toBe(0)
      await store.close()
    })
  })

  describe('metrics', () => {
    it('applies mixed operations on one metric within one update in the order given', async () => {
      const store = await openStore()
      await store.metricsSink.update([
        { configId: 1, name: 'm', operation: 'sum', value: 3 },
        { configId: 1, name: 'm', operation: 'max', value: 10 },
        { configId: 1, name: 'm', operation: 'sum', value: 1 },
        { configId: 1, name: 'other', operation: 'min', value: 4 },
      ])
      expect(await store.metricsSink.read(1)).toEqual({ m: 11, other: 4 })
      await store.close()
    })

    it('rejects the whole update when one entry is invalid', async () => {
      const store = await openStore()
      const error = await rejection(
        store.metricsSink.update([
          { configId: 1, name: 'ok', operation: 'sum', value: 1 },
          { configId: 1, name: 'bad', operation: 'avg' as 'sum', value: 1 },
        ]),
      )
      expect(error).toMatchObject({ code: 'metrics.invalid', retryable: false })
      expect(await store.metricsSink.read(1)).toEqual({})
      await store.close()
    })
  })

  describe('logs and dead letters keep what PostgreSQL text cannot hold', () => {
    it('a log message with a NUL character is stored with U+FFFD instead', async () => {
      const store = await openStore()
      const entry = {
        configId: 1,
        teamId: 2,
        level: 'info' as const,
        source: 'plugin' as const,
        message: 'a\u0000b \ud800',
        timestamp: 1,
        instanceId: 'i',
      }
      await store.logSink.append([entry])
      expect((await store.logSink.query({ configId: 1 }))[0]?.message).toBe('a\ufffdb \ufffd')
      await store.close()
    })

    it('a dead letter’s payload round-trips byte-exact, NUL characters included', async () => {
      const store = await openStore()
      const payload = 'raw\u0000input \u{1f994} "x"'
      const [id] = (await store.deadLetters.put([
        { source: 'ingestion', reason: 'bad\u0000reason', payload, teamId: null, configId: null },
      ])) as [string]
      expect(id).toMatch(/^\d{19}$/)
      expect(await store.deadLetters.get(id)).toMatchObject({ payload, reason: 'bad\ufffdreason' })
      for (const malformed of ['', 'x', '1', `${id}0`, '0000000000000000000']) {
        expect(await store.deadLetters.get(malformed)).toBeNull()
      }
      expect(await store.deadLetters.list({ after: 'zzz' })).toEqual([])
      expect((await store.deadLetters.list({ after: '' })).map((entry) => entry.id)).toEqual([id])
      await store.close()
    })
  })

  describe('sink', () => {
    it('is idempotent on uuid: a batch delivered again adds nothing', async () => {
      const store = await openStore()
      const sink = store.createSink({ table: 'events' })
      const batch = [event(), event(), event()]
      await sink.write(batch)
      await sink.write([...batch, event({ uuid: batch[0]?.uuid, event: 'same uuid, different event' })])
      const held = await readSinkTable(query, store.schema, 'events')
      expect(held).toEqual(batch)
      await store.close()
    })

    it('stores NUL characters as U+FFFD and an unrepresentable timestamp as NULL rather than refusing the batch', async () => {
      const store = await openStore()
      const sink = store.createSink({ table: 'events' })
      await sink.write([
        event({ distinct_id: 'a\u0000b', properties: { 'k\u0000': 'v\u0000', n: [1, '\u0000'] } }),
        event({ timestamp: new Date(-8.64e15).toISOString() }),
      ])
      const { rows } = await query(
        `SELECT distinct_id, properties, timestamp FROM "${store.schema}"."events" ORDER BY seq`,
      )
      expect(rows).toEqual([
        {
          distinct_id: 'a\ufffdb',
          properties: { 'k\ufffd': 'v\ufffd', n: [1, '\ufffd'] },
          timestamp: expect.any(Date),
        },
        { distinct_id: 'user-1', properties: {}, timestamp: null },
      ])
      await store.close()
    })

    it(`writes more than ${SINK_EVENTS_PER_STATEMENT} events in one transaction, in order`, async () => {
      const store = await openStore()
      const sink = store.createSink({ table: 'big', schema: `${store.schema}_out` })
      expect(sink.name).toBe(`postgres:${store.schema}_out.big`)
      const batch = Array.from({ length: SINK_EVENTS_PER_STATEMENT + 500 }, (_, i) =>
        event({ properties: { i } }),
      )
      await sink.write(batch)
      const held = await readSinkTable(query, `${store.schema}_out`, 'big')
      expect(held.map((e) => e.uuid)).toEqual(batch.map((e) => e.uuid))
      await store.close()
    })

    it('refuses a table name that is not a plain identifier', async () => {
      const store = await openStore()
      expect(() => store.createSink({ table: 'events; DROP TABLE x' })).toThrow(/not a usable name/)
      await store.close()
    })
  })
})

describe('foldMetricUpdates', () => {
  it('folds runs of one operation per metric and starts a new round when the operation changes', () => {
    const u = (name: string, operation: MetricUpdate['operation'], value: number, configId = 1) => ({
      configId,
      name,
      operation,
      value,
    })
    expect(
      foldMetricUpdates([
        u('a', 'sum', 1),
        u('b', 'max', 5),
        u('a', 'sum', 2),
        u('b', 'max', 7),
        u('a', 'min', 0),
        u('a', 'sum', 4, 2),
      ]),
    ).toEqual([[u('a', 'sum', 3), u('b', 'max', 7), u('a', 'sum', 4, 2)], [u('a', 'min', 0)]])
  })
})
