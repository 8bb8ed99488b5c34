import { describe, expect, it } from 'vitest'
import {
  createCacheDouble,
  createJobQueueDouble,
  createLogSinkDouble,
  createMetricsSinkDouble,
  createStorageDouble,
} from '../../test/doubles.js'
import { CacheError, GeoIpError, MetricsSinkError, StorageError, ValidationError } from '../errors.js'
import { createManualClock } from '../manual-clock.js'
import type { FetchRequest } from '../ports/fetch.js'
import { type CaptureOrigin, createPluginHost, oversizedPayloadBytes } from './plugin-host.js'
import { createTelemetry } from './telemetry.js'

function setup(overrides: { geoip?: boolean; posthogHost?: string } = {}) {
  const clock = createManualClock(Date.UTC(2026, 0, 31, 10, 0, 0))
  const cache = createCacheDouble()
  const storage = createStorageDouble()
  const jobQueue = createJobQueueDouble()
  const logSink = createLogSinkDouble()
  const metricsSink = createMetricsSinkDouble()
  const telemetry = createTelemetry({ clock, logSink, metricsSink, instanceId: 'i1' })
  const requests: FetchRequest[] = []
  const captures: [CaptureOrigin, string, Record<string, unknown>][] = []
  const host = createPluginHost(
    {
      clock,
      cache,
      storage,
      jobQueue,
      telemetry,
      fetch: {
        async request(request) {
          requests.push(request)
          return {
            status: 200,
            statusText: 'OK',
            headers: { 'content-type': 'application/json' },
            body: new TextEncoder().encode('{"ok":true}'),
          }
        },
      },
      ...(overrides.geoip
        ? {
            geoip: {
              locate: async (ip: string) => (ip === '1.1.1.1' ? { city: { names: { en: 'Sydney' } } } : null),
            },
          }
        : {}),
      ...(overrides.posthogHost
        ? {
            posthogApi: {
              host: overrides.posthogHost,
              personalApiKey: 'phx_secret',
              projectApiKey: 'phc_project',
            },
          }
        : {}),
      capture: async (origin, event, properties) => void captures.push([origin, event, properties]),
    },
    {
      pluginId: 7,
      pluginName: 'geo',
      configId: 42,
      teamId: 3,
      config: { a: 1 },
      attachments: {},
      jobNames: ['sync'],
      metrics: { rows: 'sum', peak: 'max' },
    },
  )
  return { clock, cache, storage, jobQueue, logSink, metricsSink, telemetry, requests, captures, host }
}

describe('meta.cache', () => {
  it('namespaces keys per plugin and team, and JSON-serialises by default', async () => {
    const { host, cache } = setup()
    await host.cache.set('user', { id: 1 }, 60)
    expect(cache.data.get('@plugin/7/3/user')).toBe('{"id":1}')
    expect(await host.cache.get('user', null)).toEqual({ id: 1 })
  })

  it('returns the given default for a missing key (the original returned null)', async () => {
    const { host } = setup()
    expect(await host.cache.get('missing', 'fallback')).toBe('fallback')
    expect(await host.cache.get('missing', 0, { jsonSerialize: false })).toBe(0)
  })

  it('stores and returns raw strings with jsonSerialize: false', async () => {
    const { host, cache } = setup()
    await host.cache.set('raw', 12, undefined, { jsonSerialize: false })
    expect(cache.data.get('@plugin/7/3/raw')).toBe('12')
    expect(await host.cache.get('raw', null, { jsonSerialize: false })).toBe('12')
  })

  it('caps lpush at 1000 elements per call', async () => {
    const { host } = setup()
    await expect(
      host.cache.lpush(
        'l',
        Array.from({ length: 1001 }, (_, i) => `${i}`),
      ),
    ).rejects.toBeInstanceOf(CacheError)
    expect(await host.cache.lpush('l', ['a', 'b'])).toBe(2)
    expect(await host.cache.lpush('l', 'c')).toBe(3)
  })
})

describe('meta.storage and meta.utils.cursor', () => {
  it('round-trips JSON per config, deletes on undefined, and returns the default when missing', async () => {
    const { host } = setup()
    await host.storage.set('k', { deep: [1, 'two'] })
    expect(await host.storage.get('k', null)).toEqual({ deep: [1, 'two'] })
    await host.storage.set('k', undefined)
    expect(await host.storage.get('k', 'gone')).toBe('gone')
    await expect(host.storage.set('f', () => 1)).rejects.toBeInstanceOf(StorageError)
  })

  it('initialises a cursor once and increments it atomically', async () => {
    const { host } = setup()
    await host.cursor.init('offset', 10)
    await host.cursor.init('offset', 99)
    expect(await host.cursor.increment('offset')).toBe(11)
    expect(await host.cursor.increment('offset', 5)).toBe(16)
    expect(await host.storage.get('offset', 'separate from storage')).toBe('separate from storage')
  })
})

describe('meta.jobs', () => {
  it('enqueues runNow, runIn with calendar months, and runAt', async () => {
    const { host, jobQueue, clock } = setup()
    await host.enqueueJob('sync', { page: 1 }, { kind: 'now' })
    await host.enqueueJob('sync', { page: 2 }, { kind: 'in', amount: 1, unit: 'month' })
    await host.enqueueJob('sync', { page: 3 }, { kind: 'at', date: '2027-01-01T00:00:00Z' })
    expect(
      [...jobQueue.jobs.values()].map((j) => [
        j.kind,
        j.configId,
        j.name,
        j.payload,
        new Date(j.runAt).toISOString(),
      ]),
    ).toEqual([
      ['plugin-job', 42, 'sync', '{"page":1}', new Date(clock.now()).toISOString()],
      ['plugin-job', 42, 'sync', '{"page":2}', '2026-02-28T10:00:00.000Z'],
      ['plugin-job', 42, 'sync', '{"page":3}', '2027-01-01T00:00:00.000Z'],
    ])
  })

  it('refuses an unknown job name or unit at the call, naming it', async () => {
    const { host } = setup()
    await expect(host.enqueueJob('nope', {}, { kind: 'now' })).rejects.toThrow("unknown job 'nope'")
    await expect(
      host.enqueueJob('sync', {}, { kind: 'in', amount: 1, unit: 'fortnight' }),
    ).rejects.toBeInstanceOf(ValidationError)
  })

  it('refuses a payload over 1 MB', async () => {
    const { host } = setup()
    await expect(host.enqueueJob('sync', 'x'.repeat(1024 * 1024), { kind: 'now' })).rejects.toThrow(
      /too large/,
    )
  })
})

describe('meta.metrics', () => {
  it('aggregates declared metrics and rejects wrong operations and unknown names', async () => {
    const { host, telemetry, metricsSink } = setup()
    host.updateMetric('rows', 'increment', 2)
    host.updateMetric('rows', 'increment', 3)
    host.updateMetric('peak', 'max', 9)
    host.updateMetric('peak', 'max', 4)
    expect(() => host.updateMetric('rows', 'max', 1)).toThrow(TypeError)
    expect(() => host.updateMetric('nope', 'increment', 1)).toThrow(MetricsSinkError)
    expect(() => host.updateMetric('rows', 'increment', 'many')).toThrow(MetricsSinkError)
    await telemetry.flush()
    expect(Object.fromEntries(metricsSink.values)).toEqual({ '42/rows': 5, '42/peak': 9 })
  })
})

describe('meta.geoip, fetch, posthog', () => {
  it('says clearly when no GeoIP database is configured', async () => {
    await expect(setup().host.locateIp('1.1.1.1')).rejects.toBeInstanceOf(GeoIpError)
    expect(await setup({ geoip: true }).host.locateIp('1.1.1.1')).toEqual({
      city: { names: { en: 'Sydney' } },
    })
  })

  it('fetches through the Fetch port and returns the body as text', async () => {
    const { host, requests } = setup()
    const response = await host.fetch('https://api.example.com/x', { method: 'POST', body: 'b' })
    expect(response).toEqual({
      status: 200,
      statusText: 'OK',
      headers: { 'content-type': 'application/json' },
      body: '{"ok":true}',
    })
    expect(requests).toEqual([{ url: 'https://api.example.com/x', method: 'POST', body: 'b' }])
  })

  it('passes only method, headers and body on: a plugin cannot set its own timeout or other options', async () => {
    const { host, requests } = setup()
    const init = { method: 'GET', timeoutMs: 600_000, url: 'http://169.254.169.254/' }
    await host.fetch('https://api.example.com/x', init as { method: string })
    expect(requests).toEqual([{ url: 'https://api.example.com/x', method: 'GET' }])
  })

  it('sends posthog.api GET data in the query and POST data in the body, with the configured keys', async () => {
    const { host, requests } = setup({ posthogHost: 'https://ph.example.com' })
    await host.api('GET', '/api/projects/@current', { data: { limit: 5 } })
    await host.api('POST', 'api/batch', { data: { a: 1 } })
    expect(requests[0]).toMatchObject({
      url: 'https://ph.example.com/api/projects/@current?limit=5&token=phc_project',
      method: 'GET',
      headers: { authorization: 'Bearer phx_secret' },
    })
    expect(requests[1]).toMatchObject({
      url: 'https://ph.example.com/api/batch',
      method: 'POST',
      body: '{"token":"phc_project","a":1}',
    })
  })

  it('hands posthog.capture to the runtime with the origin config', async () => {
    const { host, captures } = setup()
    await host.capture('hello', { x: 1 })
    expect(captures).toEqual([[{ pluginName: 'geo', configId: 42, teamId: 3 }, 'hello', { x: 1 }]])
  })

  it('records console output as plugin log entries of the config', async () => {
    const { host, telemetry, logSink, clock } = setup()
    host.log('warn', 'careful {"a":1}')
    await telemetry.flush()
    expect(logSink.entries).toEqual([
      {
        configId: 42,
        teamId: 3,
        level: 'warn',
        source: 'plugin',
        message: 'careful {"a":1}',
        timestamp: clock.now(),
        instanceId: 'i1',
      },
    ])
  })
})

describe('oversizedPayloadBytes', () => {
  it('counts UTF-8 bytes, not string length, at the 1 MiB limit', () => {
    expect(oversizedPayloadBytes('x'.repeat(1024 * 1024))).toBeNull()
    expect(oversizedPayloadBytes('x'.repeat(1024 * 1024 + 1))).toBe(1024 * 1024 + 1)
    // 349,526 three-byte characters: far fewer than 1 Mi code units, but 1,048,578 bytes.
    expect(oversizedPayloadBytes('€'.repeat(349_526))).toBe(1_048_578)
    expect(oversizedPayloadBytes('€'.repeat(349_525))).toBeNull()
  })
})
