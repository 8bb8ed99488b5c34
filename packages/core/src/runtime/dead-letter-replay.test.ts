import { describe, expect, it } from 'vitest'
import { createSinkDouble } from '../../test/doubles.js'
import { createTestRuntime, event, INGESTION } from '../../test/harness.js'
import type { DeadLetterSource } from '../ports/dead-letter.js'
import { CAPTURE_DEPTH } from './capture.js'
import { createDeadLetterReplay } from './dead-letter-replay.js'

type Modules = Parameters<typeof createTestRuntime>[0]

/** The test runtime plus a replay over its ports. */
function withReplay(modules: Modules = {}) {
  const rt = createTestRuntime(modules)
  const replay = createDeadLetterReplay({
    clock: rt.clock,
    deadLetters: rt.deadLetters,
    queue: rt.queue,
    ingestionTopic: INGESTION,
    jobQueue: rt.jobQueue,
    sinks: [rt.sink],
  })
  const only = async (source: DeadLetterSource) => {
    const entries = await rt.deadLetters.list()
    expect(entries.map((e) => e.source)).toEqual([source])
    return entries[0] as (typeof entries)[number]
  }
  return { ...rt, replay, only }
}

describe('createDeadLetterReplay', () => {
  it('produces an unparseable ingestion message again as it was, without a key, and removes the entry', async () => {
    const rt = withReplay()
    await rt.run(['{not json'])
    const entry = await rt.only('ingestion')
    expect(await rt.replay.replay([entry.id])).toEqual({ results: [{ id: entry.id, status: 'replayed' }] })
    expect(rt.queue.produced.get(INGESTION)).toEqual([{ key: null, value: '{not json' }])
    expect(await rt.deadLetters.list()).toEqual([])
  })

  it('keys a rejected event that parses by team and distinct_id, so it keeps its place in the order', async () => {
    const rt = withReplay()
    const rejected = event({ event: '', distinct_id: 'user-7' })
    await rt.run([rejected])
    const entry = await rt.only('ingestion')
    await rt.replay.replay([entry.id])
    expect(rt.queue.produced.get(INGESTION)).toEqual([{ key: '1:user-7', value: JSON.stringify(rejected) }])
  })

  it('produces a capture dropped for its depth to the ingestion topic again', async () => {
    const rt = withReplay({
      looper: {
        onEvent: (_e: unknown, meta: { posthog: { capture(e: string, p: object): Promise<void> } }) =>
          meta.posthog.capture('again', { distinct_id: 'user-2' }),
      },
    })
    await rt.install('looper')
    await rt.configs.reconcile()
    await rt.run([event({ properties: { [CAPTURE_DEPTH]: 3 } })])
    const entry = await rt.only('capture')
    expect(rt.queue.produced.get(INGESTION)).toBeUndefined()
    await rt.replay.replay([entry.id])
    const produced = rt.queue.produced.get(INGESTION) ?? []
    expect(produced.map((r) => [r.key, JSON.parse(r.value).event])).toEqual([['1:user-2', 'again']])
    expect(await rt.deadLetters.list()).toEqual([])
  })

  it('enqueues a dead-lettered export batch as a first try again, which then exports the same events', async () => {
    const exported: string[][] = []
    let failures = 1
    const rt = withReplay({
      exporter: {
        exportEvents: (events: { uuid: string }[]) => {
          if (failures-- > 0) throw new Error('warehouse refused the batch')
          exported.push(events.map((e) => e.uuid))
        },
      },
    })
    const { config } = await rt.install('exporter')
    await rt.configs.reconcile()
    const first = event()
    const second = event()
    await rt.run([first, second])
    rt.clock.advance(10_000)
    await rt.jobs.runDue()
    const entry = await rt.only('export-events')
    expect(exported).toEqual([])

    await rt.replay.replay([entry.id])
    expect([...rt.jobQueue.jobs.values()]).toEqual([
      expect.objectContaining({
        kind: 'export-events',
        configId: config.id,
        name: 'exportEvents',
        payload: entry.payload,
        runAt: rt.clock.now(),
        attempt: 0,
      }),
    ])
    await rt.jobs.runDue()
    expect(exported).toEqual([[first.uuid, second.uuid]])
    expect(await rt.deadLetters.list()).toEqual([])
  })

  it('enqueues an undelivered webhook again with its attempts reset', async () => {
    const rt = withReplay({
      hook: { composeWebhook: () => ({ url: 'https://hooks.example.com/in', body: 'x' }) },
    })
    const { config } = await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event()])
    await rt.jobs.runDue()
    const entry = await rt.only('webhook')
    rt.clock.advance(60_000)
    await rt.replay.replay([entry.id])
    expect([...rt.jobQueue.jobs.values()]).toEqual([
      expect.objectContaining({
        kind: 'webhook',
        configId: config.id,
        name: 'composeWebhook',
        payload: entry.payload,
        runAt: rt.clock.now(),
        attempt: 0,
      }),
    ])
  })

  it('enqueues a dead-lettered job as the job it was; one that fails again comes back with its reason', async () => {
    const rt = withReplay()
    await rt.jobQueue.enqueue([
      { kind: 'mystery', configId: 9, name: 'thing', payload: '{"a":1}', runAt: rt.clock.now(), attempt: 2 },
    ])
    await rt.jobs.runDue()
    const entry = await rt.only('job')
    await rt.replay.replay([entry.id])
    expect([...rt.jobQueue.jobs.values()]).toEqual([
      expect.objectContaining({
        kind: 'mystery',
        configId: 9,
        name: 'thing',
        payload: '{"a":1}',
        runAt: rt.clock.now(),
        attempt: 0,
      }),
    ])
    await rt.jobs.runDue()
    const again = await rt.only('job')
    expect(again.reason).toBe("unknown job kind 'mystery'")
  })

  it('writes what one sink refused to that sink alone', async () => {
    const rt = createTestRuntime({})
    const other = createSinkDouble('other')
    const replay = createDeadLetterReplay({
      clock: rt.clock,
      deadLetters: rt.deadLetters,
      queue: rt.queue,
      ingestionTopic: INGESTION,
      jobQueue: rt.jobQueue,
      sinks: [rt.sink, other],
    })
    rt.sink.refuseNext = 1
    await rt.run([event({ event: 'refused once' })])
    const [entry] = await rt.deadLetters.list()
    const result = await replay.replay([entry?.id as string])
    expect(result.results).toEqual([{ id: entry?.id, status: 'replayed' }])
    expect(rt.sink.events.map((e) => e.event)).toEqual(['refused once'])
    expect(other.events).toEqual([])
  })

  it('keeps an entry addressed to a sink this server does not have', async () => {
    const rt = withReplay()
    const [id] = await rt.deadLetters.put([
      {
        source: 'sink',
        reason: 'refused',
        payload: JSON.stringify({ sink: 'gone', events: [{ uuid: 'u' }] }),
        teamId: 1,
        configId: null,
      },
    ])
    const result = await rt.replay.replay([id as string])
    expect(result.results).toEqual([
      { id, status: 'failed', reason: "this server has no sink named 'gone' to write the events to" },
    ])
  })

  it('writes sink entries (one processed event or a list) to the sinks', async () => {
    const rt = withReplay()
    const [one, two, three] = [event(), event(), event()]
    const [listId, singleId] = await rt.deadLetters.put([
      { source: 'sink', reason: 'refused', payload: JSON.stringify([one, two]), teamId: 1, configId: null },
      { source: 'sink', reason: 'refused', payload: JSON.stringify(three), teamId: 1, configId: null },
    ])
    const result = await rt.replay.replay([listId as string, singleId as string])
    expect(result.results.map((r) => r.status)).toEqual(['replayed', 'replayed'])
    expect(rt.sink.events.map((e) => e.uuid)).toEqual([one.uuid, two.uuid, three.uuid])
    expect(await rt.deadLetters.list()).toEqual([])
  })

  it('keeps entries it cannot re-queue and says why, one outcome per distinct id in the order asked', async () => {
    const rt = withReplay()
    const [badSink, badJob, exportWithoutConfig] = (await rt.deadLetters.put([
      { source: 'sink', reason: 'r', payload: 'not events', teamId: null, configId: null },
      { source: 'job', reason: 'r', payload: '{"a":1}', teamId: null, configId: 3 },
      { source: 'export-events', reason: 'r', payload: '[]', teamId: 1, configId: null },
    ])) as [string, string, string]
    const result = await rt.replay.replay(['missing', badSink, badJob, 'missing', exportWithoutConfig])
    expect(result.results).toEqual([
      { id: 'missing', status: 'not-found' },
      {
        id: badSink,
        status: 'failed',
        reason: 'the payload is not a processed event or a JSON list of them, so no sink can take it',
      },
      {
        id: badJob,
        status: 'failed',
        reason: 'the payload is not a job ({ kind, name, payload } JSON), so it cannot be enqueued again',
      },
      {
        id: exportWithoutConfig,
        status: 'failed',
        reason: 'the entry names no plugin config to export these events to',
      },
    ])
    expect(await rt.deadLetters.list()).toHaveLength(3)
  })

  it('keeps the entries of a destination that fails and replays the others', async () => {
    const rt = withReplay()
    const [ingested, webhook] = (await rt.deadLetters.put([
      { source: 'ingestion', reason: 'r', payload: '{}', teamId: null, configId: null },
      { source: 'webhook', reason: 'r', payload: '{"url":"u","body":"b"}', teamId: 1, configId: 2 },
    ])) as [string, string]
    rt.queue.produce = async () => {
      throw new Error('broker unreachable')
    }
    const result = await rt.replay.replay([ingested, webhook])
    expect(result.results).toEqual([
      {
        id: ingested,
        status: 'failed',
        reason: `producing to '${INGESTION}' failed: Error: broker unreachable; the entry was kept, replay it again later`,
      },
      { id: webhook, status: 'replayed' },
    ])
    expect((await rt.deadLetters.list()).map((e) => e.id)).toEqual([ingested])
  })

  it('reports re-queued entries it could not remove, so an operator does not replay them twice', async () => {
    const rt = withReplay()
    const [id] = (await rt.deadLetters.put([
      { source: 'ingestion', reason: 'r', payload: '{}', teamId: null, configId: null },
    ])) as [string]
    rt.deadLetters.delete = async () => {
      throw new Error('store read-only')
    }
    const result = await rt.replay.replay([id])
    expect(result.results).toEqual([
      {
        id,
        status: 'failed',
        reason:
          're-queued, but removing it from the dead-letter store failed (Error: store read-only); delete it by hand, a second replay would deliver it twice',
      },
    ])
    expect(rt.queue.produced.get(INGESTION)).toHaveLength(1)
  })
})
