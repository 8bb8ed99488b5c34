import { describe, expect, it } from 'vitest'
import { createTestRuntime, event } from '../../test/harness.js'
import { FetchError, RetryError } from '../errors.js'
import type { Fetch, FetchRequest } from '../ports/fetch.js'

const withRunner = (modules: Parameters<typeof createTestRuntime>[0], fetch?: Fetch) =>
  createTestRuntime(modules, fetch ? { fetch } : {})

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 410: 'Gone', 503: 'Service Unavailable' }

/** Answers with each status in turn (200 when they run out); an Error in the list is thrown instead. */
const fakeFetch = (statuses: (number | Error)[]): Fetch & { requests: FetchRequest[] } => {
  const requests: FetchRequest[] = []
  return {
    requests,
    async request(request) {
      requests.push(request)
      const status = statuses.shift() ?? 200
      if (status instanceof Error) throw status
      return {
        status,
        statusText: STATUS_TEXT[status] ?? '',
        headers: {},
        body: new Uint8Array(),
      }
    },
  }
}

describe('plugin jobs', () => {
  it('runs a job enqueued with runIn when it falls due, exactly once, with its payload', async () => {
    const payloads: unknown[] = []
    const rt = withRunner({
      scheduler: {
        jobs: { hello: (payload: unknown) => void payloads.push(payload) },
        processEvent: async (
          e: unknown,
          meta: { jobs: Record<string, (p: unknown) => { runIn(n: number, u: string): Promise<void> }> },
        ) => {
          await meta.jobs.hello?.({ n: 1 }).runIn(2, 'minutes')
          return e
        },
      },
    })
    await rt.install('scheduler')
    await rt.configs.reconcile()
    await rt.run([event()])
    expect(await rt.jobs.runDue()).toBe(0)
    rt.clock.advance(119_999)
    expect(await rt.jobs.runDue()).toBe(0)
    rt.clock.advance(1)
    expect(await rt.jobs.runDue()).toBe(1)
    expect(payloads).toEqual([{ n: 1 }])
    expect(await rt.jobQueue.count()).toBe(0)
  })

  it('retries a job that throws RetryError with the onEvent backoff, then gives up and records it', async () => {
    let calls = 0
    const rt = withRunner({
      flaky: {
        jobs: {
          work: () => {
            calls += 1
            throw new RetryError('not yet')
          },
        },
      },
    })
    const { config } = await rt.install('flaky')
    await rt.configs.reconcile()
    await rt.jobQueue.enqueue([
      { kind: 'plugin-job', configId: config.id, name: 'work', payload: '{}', runAt: rt.clock.now() },
    ])
    for (const delay of [0, 5_000, 10_000, 20_000, 40_000, 80_000]) {
      rt.clock.advance(delay)
      expect(await rt.jobs.runDue()).toBe(1)
    }
    expect(calls).toBe(6)
    expect(await rt.jobQueue.count()).toBe(0)
    expect(await rt.logs()).toContainEqual(
      expect.stringMatching(/jobs\.work failed after 6 tries, giving up: RetryError: not yet/),
    )
  })
})

describe('exportEvents', () => {
  it('merges the due batches of one config into one call and counts delivered events', async () => {
    const calls: number[] = []
    const rt = withRunner({
      exporter: { exportEvents: (events: unknown[]) => void calls.push(events.length) },
    })
    const { config } = await rt.install('exporter')
    await rt.configs.reconcile()
    await rt.run([event(), event()])
    await rt.run([event()])
    rt.clock.advance(10_000)
    await rt.jobs.runDue()
    expect(calls).toEqual([3])
    await rt.telemetry.flush()
    expect(rt.metricsSink.values.get(`${config.id}/events_delivered_successfully`)).toBe(3)
  })

  it('splits merged events at exportEventsBufferBytes, never passing it except for one oversized event', async () => {
    const batches: unknown[][] = []
    const rt = withRunner({ exporter: { exportEvents: (events: unknown[]) => void batches.push(events) } })
    await rt.install('exporter', { config: { exportEventsBufferBytes: 600 } })
    await rt.configs.reconcile()
    await rt.run([
      event(),
      event(),
      event(),
      event(),
      event({ properties: { big: 'x'.repeat(700) } }),
      event(),
    ])
    await rt.jobs.runDue()
    expect(batches.flat()).toHaveLength(6)
    expect(batches.length).toBeGreaterThan(2)
    for (const batch of batches) {
      const bytes = batch.reduce<number>((sum, e) => sum + JSON.stringify(e).length, 0)
      expect(bytes <= 600 || batch.length === 1).toBe(true)
    }
  })

  it('retries a RetryError batch after 6, 12 and 24 s, then moves it to the dead-letter store', async () => {
    let calls = 0
    const rt = withRunner({
      exporter: {
        exportEvents: () => {
          calls += 1
          throw new RetryError('warehouse down')
        },
      },
    })
    const { config } = await rt.install('exporter')
    await rt.configs.reconcile()
    await rt.run([event({ event: 'lost?' })])
    rt.clock.advance(10_000)
    await rt.jobs.runDue()
    for (const delay of [6_000, 12_000, 24_000]) {
      rt.clock.advance(delay - 1)
      expect(await rt.jobs.runDue()).toBe(0)
      rt.clock.advance(1)
      expect(await rt.jobs.runDue()).toBe(1)
    }
    expect(calls).toBe(4)
    expect(rt.deadLetters.entries).toHaveLength(1)
    expect(rt.deadLetters.entries[0]).toMatchObject({
      source: 'export-events',
      configId: config.id,
      reason: 'exportEvents failed after 4 tries: RetryError: warehouse down',
    })
    expect(JSON.parse(rt.deadLetters.entries[0]?.payload ?? '[]')[0].event).toBe('lost?')
    await rt.telemetry.flush()
    expect(rt.metricsSink.values.get(`${config.id}/retry_errors`)).toBe(4)
    expect(rt.metricsSink.values.get(`${config.id}/undelivered_events`)).toBe(1)
  })
})

describe('webhooks', () => {
  it('delivers composeWebhook requests and retries failures 3 times in all before dead-lettering', async () => {
    const fetch = fakeFetch([200, 503, 503, 503])
    const rt = withRunner(
      {
        hook: {
          composeWebhook: (e: { event: string }) => ({
            url: 'https://hooks.example.com/in',
            body: e.event,
            method: 'PUT',
          }),
        },
      },
      fetch,
    )
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event({ event: 'ok' })])
    await rt.jobs.runDue()
    expect(fetch.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['PUT', 'https://hooks.example.com/in', 'ok'],
    ])
    await rt.run([event({ event: 'doomed' })])
    await rt.jobs.runDue()
    rt.clock.advance(5_000)
    await rt.jobs.runDue()
    rt.clock.advance(30_000)
    await rt.jobs.runDue()
    expect(fetch.requests).toHaveLength(4)
    expect(rt.deadLetters.entries.map((e) => [e.source, e.reason])).toEqual([
      ['webhook', 'PUT https://hooks.example.com/in answered 503 Service Unavailable (after 3 tries)'],
    ])
  })
})

describe('webhook failures that would fail again', () => {
  const hookRuntime = (fetch: Fetch) =>
    withRunner(
      { hook: { composeWebhook: () => ({ url: 'https://hooks.example.com/in', body: 'x' }) } },
      fetch,
    )

  it('dead-letters a request the receiver rejected with a 4xx at once, without retrying', async () => {
    const fetch = fakeFetch([410])
    const rt = hookRuntime(fetch)
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event()])
    await rt.jobs.runDue()
    expect(fetch.requests).toHaveLength(1)
    expect(await rt.jobQueue.count()).toBe(0)
    expect(rt.deadLetters.entries.map((e) => e.reason)).toEqual([
      'POST https://hooks.example.com/in answered 410 Gone (not retried: the same request would fail again)',
    ])
  })

  it('dead-letters a request the HTTP client refused (a non-retryable FetchError) at once', async () => {
    const refused = new FetchError('hooks.example.com resolves to a private address', {
      retryable: false,
      code: 'fetch.forbidden_address',
    })
    const fetch = fakeFetch([refused])
    const rt = hookRuntime(fetch)
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event()])
    await rt.jobs.runDue()
    expect(fetch.requests).toHaveLength(1)
    expect(rt.deadLetters.entries).toHaveLength(1)
    expect(rt.deadLetters.entries[0]?.reason).toMatch(/private address .*\(not retried/)
  })

  it('retries a retryable FetchError (a timeout) and delivers on the next try', async () => {
    const timeout = new FetchError('no answer within 10000 ms', { retryable: true, code: 'fetch.timeout' })
    const fetch = fakeFetch([timeout, 200])
    const rt = hookRuntime(fetch)
    await rt.install('hook')
    await rt.configs.reconcile()
    await rt.run([event()])
    await rt.jobs.runDue()
    rt.clock.advance(5_000)
    await rt.jobs.runDue()
    expect(fetch.requests).toHaveLength(2)
    expect(rt.deadLetters.entries).toEqual([])
    expect(await rt.jobQueue.count()).toBe(0)
  })
})

describe('onEvent retries', () => {
  it('runs the retried onEvent when due and stops once it succeeds', async () => {
    let calls = 0
    const rt = withRunner({
      flaky: {
        onEvent: () => {
          calls += 1
          if (calls < 3) throw new RetryError('again')
        },
      },
    })
    await rt.install('flaky')
    await rt.configs.reconcile()
    await rt.run([event()])
    rt.clock.advance(5_000)
    await rt.jobs.runDue()
    rt.clock.advance(10_000)
    await rt.jobs.runDue()
    expect(calls).toBe(3)
    expect(await rt.jobQueue.count()).toBe(0)
  })
})
