import { createManualClock, PluginCallError, SluiceError, ValidationError } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createFetchDouble,
  createPluginTester,
  type PluginTester,
  type PluginTesterSettings,
} from '../src/index.js'

const open: PluginTester[] = []

afterEach(async () => {
  await Promise.all(open.splice(0).map((tester) => tester.close().catch(() => {})))
})

/** A tester over inline files; `plugin.json` defaults to `{ name: 'test-plugin' }`. */
async function load(
  files: Record<string, string>,
  settings: PluginTesterSettings & { manifest?: Record<string, unknown> } = {},
) {
  const { manifest, ...rest } = settings
  const tester = await createPluginTester({
    files: { 'plugin.json': JSON.stringify({ name: 'test-plugin', ...manifest }), ...files },
    ...rest,
  })
  open.push(tester)
  return tester
}

const START = Date.UTC(2026, 10, 21, 12, 0, 0)

describe('processEvent', () => {
  it('fills the event defaults and returns what the plugin returned', async () => {
    const plugin = await load(
      {
        'index.js': `
          exports.processEvent = (event) => {
            event.properties.seen = true
            return event
          }
        `,
      },
      { clock: createManualClock(START), teamId: 7 },
    )
    expect(await plugin.processEvent({ event: 'signed up', properties: { plan: 'pro' } })).toEqual({
      uuid: '00000000-0000-4000-8000-000000000001',
      distinct_id: 'test-user',
      ip: '127.0.0.1',
      site_url: 'http://localhost:8000',
      team_id: 7,
      now: '2026-11-21T12:00:00.000Z',
      event: 'signed up',
      properties: { plan: 'pro', seen: true },
    })
  })

  it('returns null when the plugin drops the event', async () => {
    const plugin = await load({ 'index.ts': 'export function processEvent() { return null }' })
    expect(await plugin.processEvent({ event: 'x' })).toBeNull()
  })

  it("throws the plugin's error as a PluginCallError", async () => {
    const plugin = await load({
      'index.ts': "export function processEvent() { throw new TypeError('no properties') }",
    })
    const error = await plugin.processEvent({ event: 'x' }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(PluginCallError)
    expect(error).toMatchObject({
      message: 'processEvent failed: TypeError: no properties',
      failure: { name: 'TypeError', message: 'no properties', retry: false },
    })
  })

  it('fails a plugin that changes team_id, as the pipeline does', async () => {
    const plugin = await load({ 'index.js': 'exports.processEvent = (e) => ({ ...e, team_id: 99 })' })
    await expect(plugin.processEvent({ event: 'x' })).rejects.toThrow(
      'processEvent failed: Error: Plugin tried to change event.team_id',
    )
  })

  it('uses processEventBatch with [event] when only that exists', async () => {
    const plugin = await load({
      'index.js':
        'exports.processEventBatch = (events) => events.map((e) => ({ ...e, event: e.event + "!" }))',
    })
    expect(await plugin.processEvent({ event: 'x' })).toMatchObject({ event: 'x!' })
  })

  it('runs a batch in one crossing and keeps each distinct_id in order', async () => {
    const plugin = await load({
      'index.ts': `
        export async function processEvent(event, { cache }) {
          event.properties.n = await cache.incr(event.distinct_id)
          return event
        }
      `,
    })
    const results = await plugin.processEvents([
      { event: 'a', distinct_id: 'u1' },
      { event: 'b', distinct_id: 'u2' },
      { event: 'c', distinct_id: 'u1' },
    ])
    expect(results.map((e) => [e?.event, e?.properties?.n])).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ])
  })

  it('says which functions exist when the plugin has no processEvent', async () => {
    const plugin = await load({ 'index.js': 'exports.onEvent = () => {}' })
    await expect(plugin.processEvent({ event: 'x' })).rejects.toThrow(
      "plugin 'test-plugin' exports neither processEvent nor processEventBatch (it exports onEvent)",
    )
  })
})

describe('config and attachments', () => {
  const manifest = {
    config: [
      { key: 'mode', type: 'choice', choices: ['strict', 'loose'], default: 'loose' },
      { key: 'apiKey', required: true, secret: true },
      { key: 'mapping', type: 'json' },
      { key: 'certificate', type: 'attachment' },
    ],
  }

  it('hands the plugin the validated config: defaults applied, json parsed', async () => {
    const plugin = await load(
      { 'index.js': 'exports.processEvent = (e, { config }) => ({ ...e, properties: config })' },
      { manifest, config: { apiKey: 'k', mapping: '{"a":"b"}' } },
    )
    expect(plugin.config).toEqual({ mode: 'loose', apiKey: 'k', mapping: { a: 'b' } })
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual(plugin.config)
  })

  it('refuses an invalid config, naming every problem by key and no secret value', async () => {
    const error = await load(
      { 'index.js': '' },
      { manifest, config: { mode: 'wild', mapping: '{', other: 1, certificate: 'x' } },
    ).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ValidationError)
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual([
      'mode',
      'apiKey',
      'mapping',
      'certificate',
      'other',
    ])
    expect((error as Error).message).toContain("config of plugin 'test-plugin' is invalid")
  })

  it('gives attachments to the plugin as Buffers', async () => {
    const plugin = await load(
      {
        'index.js': `
          exports.processEvent = (e, { attachments }) => ({
            ...e,
            properties: {
              text: attachments.certificate.contents.toString('utf8'),
              name: attachments.certificate.file_name,
              type: attachments.certificate.content_type,
              isBuffer: Buffer.isBuffer(attachments.certificate.contents),
            },
          })
        `,
      },
      {
        manifest,
        config: { apiKey: 'k' },
        attachments: { certificate: { contents: '-----BEGIN-----', file_name: 'ca.pem' } },
      },
    )
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({
      text: '-----BEGIN-----',
      name: 'ca.pem',
      type: 'text/plain',
      isBuffer: true,
    })
  })
})

describe('lifecycle', () => {
  const lifecycle = `
    export async function setupPlugin({ global, storage }) {
      global.ready = true
      await storage.set('setups', (await storage.get('setups', 0)) + 1)
    }
    export async function teardownPlugin({ storage }) {
      await storage.set('teardowns', (await storage.get('teardowns', 0)) + 1)
    }
    export function processEvent(event, { global }) {
      return { ...event, properties: { ready: global.ready === true } }
    }
  `

  it('runs setupPlugin on create, and teardownPlugin on close', async () => {
    const plugin = await load({ 'index.ts': lifecycle })
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({ ready: true })
    expect(await plugin.storage.get('setups', 0)).toBe(1)
    await plugin.close()
    expect(await plugin.storage.get('teardowns', 0)).toBe(1)
  })

  it('leaves setup to the test with setup: false', async () => {
    const plugin = await load({ 'index.ts': lifecycle }, { setup: false })
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({ ready: false })
    await plugin.setup()
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({ ready: true })
  })

  it('fails creation when setupPlugin fails', async () => {
    await expect(
      load({ 'index.js': "exports.setupPlugin = () => { throw new RetryError('API not reachable') }" }),
    ).rejects.toMatchObject({
      message: 'setupPlugin failed: RetryError: API not reachable',
      failure: { retry: true },
    })
  })

  it("does not tear down twice, and close reports teardown's error", async () => {
    const plugin = await load({
      'index.js':
        "exports.setupPlugin = () => {}; exports.teardownPlugin = () => { throw new Error('flush failed') }",
    })
    await expect(plugin.close()).rejects.toThrow('teardownPlugin failed: Error: flush failed')
    await plugin.close()
  })

  it('names the plugin and file of a forbidden import', async () => {
    await expect(
      load({ 'index.js': "const fs = require('fs')\nexports.processEvent = (e) => e" }),
    ).rejects.toThrow("index.js:1: Cannot import 'fs': this module is not available to plugins")
  })
})

describe('logs, metrics, cache, storage and capture', () => {
  it('collects console output, metrics and captured events', async () => {
    const plugin = await load({
      'index.ts': `
        export const metrics = { seen: 'sum', biggest: 'max' }
        export async function processEvent(event, { metrics }) {
          console.log('got', event.event, { n: 1 })
          console.warn('careful')
          metrics.seen.increment(1)
          metrics.biggest.max(event.properties.size)
          await posthog.capture('derived', { from: event.event })
          return event
        }
      `,
    })
    await plugin.processEvents([
      { event: 'a', properties: { size: 3 } },
      { event: 'b', properties: { size: 9 } },
    ])
    expect(plugin.logs.map((entry) => `${entry.level}: ${entry.message}`)).toEqual([
      'log: got a {"n":1}',
      'warn: careful',
      'log: got b {"n":1}',
      'warn: careful',
    ])
    expect(plugin.logs[0]?.source).toBe('plugin')
    expect(plugin.metrics).toEqual({ seen: 2, biggest: 9 })
    expect(plugin.captured).toEqual([
      { event: 'derived', properties: { from: 'a' } },
      { event: 'derived', properties: { from: 'b' } },
    ])
  })

  it("shares meta.cache and meta.storage with the test, in the plugin's namespace", async () => {
    const plugin = await load(
      {
        'index.js': `
          exports.processEvent = async (event, { cache, storage }) => {
            event.properties.greeting = await storage.get('greeting', 'none')
            await cache.set('last', event.event)
            return event
          }
        `,
      },
      { clock: createManualClock(START) },
    )
    await plugin.storage.set('greeting', 'hello')
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({ greeting: 'hello' })
    expect(await plugin.cache.get('last', null)).toBe('x')
  })

  it('expires cache entries as the manual clock moves', async () => {
    const plugin = await load({
      'index.js': "exports.processEvent = async (e, { cache }) => { await cache.set('k', 1, 60); return e }",
    })
    await plugin.processEvent({ event: 'x' })
    plugin.advanceTime(59_000)
    expect(await plugin.cache.get('k', null)).toBe(1)
    plugin.advanceTime(1_000)
    expect(await plugin.cache.get('k', null)).toBeNull()
  })
})

describe('onEvent, exportEvents, composeWebhook and schedules', () => {
  it('gives onEvent the processed event', async () => {
    const plugin = await load(
      { 'index.js': 'exports.onEvent = async (event) => console.log(JSON.stringify(event))' },
      { clock: createManualClock(START) },
    )
    await plugin.onEvent({ event: 'x', distinct_id: 'u', properties: { $set: { a: 1 } } })
    expect(JSON.parse(plugin.logs[0]?.message ?? '')).toEqual({
      uuid: '00000000-0000-4000-8000-000000000001',
      distinct_id: 'u',
      ip: '127.0.0.1',
      team_id: 1,
      event: 'x',
      timestamp: '2026-11-21T12:00:00.000Z',
      properties: { $set: { a: 1 } },
      $set: { a: 1 },
    })
  })

  it('calls exportEvents once with the whole batch and surfaces a RetryError', async () => {
    const plugin = await load({
      'index.ts': `
        import { RetryError } from '@posthog/plugin-scaffold'
        export async function exportEvents(events) {
          console.log(events.map((e) => e.event).join(','))
          if (events.length > 2) throw new RetryError('too many')
        }
      `,
    })
    await plugin.exportEvents([{ event: 'a' }, { event: 'b' }])
    expect(plugin.logs.map((entry) => entry.message)).toEqual(['a,b'])
    await expect(plugin.exportEvents([{ event: 'a' }, { event: 'b' }, { event: 'c' }])).rejects.toMatchObject(
      {
        failure: { name: 'RetryError', message: 'too many', retry: true },
      },
    )
  })

  it('returns the webhook composeWebhook built, with the timestamp as a Date inside', async () => {
    const plugin = await load({
      'index.js': `
        exports.composeWebhook = (event) => event.event === 'skip' ? null : ({
          url: 'https://hooks.example/in',
          body: JSON.stringify({ at: event.timestamp.toISOString() }),
        })
      `,
    })
    expect(await plugin.composeWebhook({ event: 'x', timestamp: '2026-01-02T03:04:05.000Z' })).toEqual({
      url: 'https://hooks.example/in',
      body: '{"at":"2026-01-02T03:04:05.000Z"}',
    })
    expect(await plugin.composeWebhook({ event: 'skip' })).toBeNull()
  })

  it('runs scheduled functions, and says so when one is missing', async () => {
    const plugin = await load({
      'index.js': "exports.runEveryMinute = async ({ storage }) => { await storage.set('ran', true) }",
    })
    await plugin.runEveryMinute()
    expect(await plugin.storage.get('ran', false)).toBe(true)
    const error = await plugin.runEveryHour().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(SluiceError)
    expect((error as Error).message).toBe(
      "[sluice:testkit] plugin 'test-plugin' does not export runEveryHour (it exports runEveryMinute)",
    )
  })
})

describe('fetch and geoip', () => {
  it('sends requests to the Fetch double and records them', async () => {
    const fetch = createFetchDouble((request) =>
      request.url.endsWith('/down') ? { status: 503, statusText: 'Unavailable' } : { body: { id: 42 } },
    )
    const plugin = await load(
      {
        'index.js': `
          exports.processEvent = async (event) => {
            const ok = await fetch('https://api.example/users', { method: 'POST', body: JSON.stringify({ e: event.event }), headers: { 'Content-Type': 'application/json' } })
            const down = await fetch('https://api.example/down')
            event.properties = { id: (await ok.json()).id, type: ok.headers.get('content-type'), down: down.status, ok: down.ok }
            return event
          }
        `,
      },
      { fetch },
    )
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({
      id: 42,
      type: 'application/json',
      down: 503,
      ok: false,
    })
    expect(fetch.requests).toEqual([
      {
        url: 'https://api.example/users',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"e":"x"}',
      },
      { url: 'https://api.example/down', headers: {} },
    ])
  })

  it('fails fetch with a hint when the test gave no Fetch', async () => {
    const plugin = await load({
      'index.js': "exports.processEvent = async (e) => { await fetch('https://a.example/'); return e }",
    })
    await expect(plugin.processEvent({ event: 'x' })).rejects.toThrow(
      'pass `fetch` to createPluginTester (createFetchDouble makes one)',
    )
  })

  it('answers meta.geoip from the GeoIp port given', async () => {
    const plugin = await load(
      {
        'index.js': `
          exports.processEvent = async (event, { geoip }) => {
            const city = await geoip.locate(event.ip)
            event.properties.country = city ? city.country.iso_code : null
            return event
          }
        `,
      },
      { geoip: { locate: async (ip) => (ip === '127.0.0.1' ? { country: { iso_code: 'DE' } } : null) } },
    )
    expect((await plugin.processEvent({ event: 'x' }))?.properties).toEqual({ country: 'DE' })
    expect((await plugin.processEvent({ event: 'x', ip: '10.0.0.1' }))?.properties).toEqual({ country: null })
  })
})

describe('jobs', () => {
  const withJobs = `
    import { RetryError } from '@posthog/plugin-scaffold'
    export const jobs = {
      async remind(payload, { storage }) {
        await storage.set('reminded', payload.user)
      },
      async flaky(payload, { cache }) {
        if ((await cache.incr('flaky')) < 3) throw new RetryError('not yet')
        console.log('flaky done')
      },
      async broken() {
        throw new Error('bad payload')
      },
      async chain(payload, { jobs }) {
        if (payload.left > 0) await jobs.chain({ left: payload.left - 1 }).runNow()
      },
    }
    export async function processEvent(event, { jobs }) {
      await jobs[event.event](event.properties).runIn(30, 'minutes')
      return event
    }
  `

  it('holds enqueued jobs until they are due by the manual clock', async () => {
    const plugin = await load({ 'index.ts': withJobs }, { clock: createManualClock(START) })
    await plugin.processEvent({ event: 'remind', properties: { user: 'u1' } })
    expect(plugin.pendingJobs).toEqual([
      { name: 'remind', payload: { user: 'u1' }, runAt: new Date(START + 30 * 60_000), attempt: 0 },
    ])
    expect(await plugin.runDueJobs()).toEqual([])
    plugin.advanceTime(30 * 60_000)
    expect(await plugin.runDueJobs()).toEqual([{ name: 'remind', payload: { user: 'u1' }, attempt: 0 }])
    expect(plugin.pendingJobs).toEqual([])
    expect(await plugin.storage.get('reminded', null)).toBe('u1')
  })

  it('reschedules a job that throws RetryError with the server policy', async () => {
    const plugin = await load({ 'index.ts': withJobs }, { clock: createManualClock(START) })
    await plugin.processEvent({ event: 'flaky', properties: {} })
    plugin.advanceTime(30 * 60_000)
    const [first] = await plugin.runDueJobs()
    expect(first).toMatchObject({ name: 'flaky', attempt: 0, retryAt: new Date(START + 30 * 60_000 + 5_000) })
    expect(first?.error?.failure).toMatchObject({ name: 'RetryError', message: 'not yet' })
    plugin.advanceTime(5_000)
    expect((await plugin.runDueJobs())[0]).toMatchObject({ attempt: 1, retryAt: expect.any(Date) })
    plugin.advanceTime(10_000)
    const [third] = await plugin.runDueJobs()
    expect(third).toEqual({ name: 'flaky', payload: {}, attempt: 2 })
    expect(plugin.logs.map((entry) => entry.message)).toEqual(['flaky done'])
  })

  it('logs a job that fails for good, as the server does', async () => {
    const plugin = await load({ 'index.ts': withJobs })
    await plugin.processEvent({ event: 'broken', properties: { n: 1 } })
    plugin.advanceTime(30 * 60_000)
    const [run] = await plugin.runDueJobs()
    expect(run?.error?.message).toBe('jobs.broken failed: Error: bad payload')
    expect(run?.retryAt).toBeUndefined()
    expect(plugin.logs).toMatchObject([
      { source: 'system', level: 'error', message: 'jobs.broken failed: Error: bad payload' },
    ])
  })

  it('runs jobs that jobs enqueue for now in the same call', async () => {
    const plugin = await load({ 'index.ts': withJobs })
    await plugin.runJob('chain', { left: 2 })
    expect((await plugin.runDueJobs()).map((run) => run.payload)).toEqual([{ left: 1 }, { left: 0 }])
  })

  it('runs a job directly and throws its error', async () => {
    const plugin = await load({ 'index.ts': withJobs })
    await plugin.runJob('remind', { user: 'u2' })
    expect(await plugin.storage.get('reminded', null)).toBe('u2')
    await expect(plugin.runJob('broken')).rejects.toThrow('jobs.broken failed: Error: bad payload')
    await expect(plugin.runJob('nope')).rejects.toThrow(
      "plugin 'test-plugin' has no job 'nope' (its jobs: remind, flaky, broken, chain)",
    )
  })

  it('refuses advanceTime on a clock it cannot move', async () => {
    const plugin = await load(
      { 'index.js': '' },
      { clock: { now: () => START, setTimer: () => ({ cancel() {} }) } },
    )
    expect(() => plugin.advanceTime(1)).toThrow('advanceTime needs the default manual clock')
  })
})
