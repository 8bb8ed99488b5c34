import {
  type Cache,
  type CallOutcome,
  createManualClock,
  type DeadLetterStore,
  type JobQueue,
  type LogSink,
  type MetricsSink,
  type ProcessedPluginEvent,
  type Registry,
  type Sandbox,
  type SandboxCapabilities,
  type Storage,
  TEAM_ID_CHANGED,
} from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  geoipDouble,
  type Installed,
  type InstallOptions,
  KNOWN_CITY,
  KNOWN_IP,
  openStack,
  POSTHOG_API,
  type SandboxStack,
  START_MS,
  TEAM,
} from './sandbox-stack.js'
import { type ConformanceTime, type SuiteEnv, uniqueNamespace } from './support.js'

/** The limits the suite asks a sandbox to apply; each test group picks its own. */
export interface SandboxSuiteLimits {
  /** Wall time of one plugin call, awaited promises and synchronous loops included. */
  callTimeoutMs: number
  /** Heap limit of one plugin's code, in MB. */
  memoryLimitMb: number
}

/** What the sandbox factory receives for each test. */
export interface SandboxSuiteEnv extends SuiteEnv {
  /**
   * Apply these. Most tests ask for a generous call timeout (so a loaded machine never fails
   * them); the timeout cases ask for a short one, the memory case for a small heap.
   */
  limits: SandboxSuiteLimits
}

/**
 * Creates a fresh sandbox for one test, applying `env.limits`. The suite closes it.
 * @example
 * ({ limits }) => createIsolatedVmSandbox(limits)
 */
export type SandboxFactory = (env: SandboxSuiteEnv) => Sandbox | Promise<Sandbox>

/**
 * The ports core's runtime runs on besides the sandbox, fresh for each test. Reference adapters
 * (`@sluice/memory`) are the natural choice; conformance cannot depend on them itself. Adapters
 * that keep time (cache TTLs, registry and dead-letter stamps) must use `env.time.clock`.
 */
export interface SandboxSuiteServices {
  /** Behind `meta.cache`. */
  cache: Cache
  /** Behind `meta.storage` and `meta.utils.cursor`. */
  storage: Storage
  /** Holds plugin jobs, durable retries, export batches and webhook deliveries. */
  jobQueue: JobQueue
  /** Where the suite installs plugins and configs; read by core's config manager. */
  registry: Registry
  /** Receives `console.*` and the runtime's own entries. */
  logSink: LogSink
  /** Receives `meta.metrics` updates and the automatic export metrics. */
  metricsSink: MetricsSink
  /** Receives export batches that are given up. */
  deadLetters: DeadLetterStore
  /** Releases the services after the test. */
  close?: () => void | Promise<void>
}

/** Options of {@link describeSandboxConformance}. */
export interface SandboxSuiteOptions {
  /**
   * Creates the ports for one test. `env.time.clock` is a manual clock that the suite advances
   * (cache TTLs, job due times, durable retries); adapters that keep time must use it.
   */
  services: (env: SuiteEnv) => SandboxSuiteServices | Promise<SandboxSuiteServices>
  /**
   * The call timeout of the timeout cases (`capabilities.enforcesTimeouts`).
   * @default 300
   */
  shortCallTimeoutMs?: number
  /**
   * The heap limit of the memory case (`capabilities.enforcesMemoryLimit`).
   * @default 16
   */
  memoryLimitMb?: number
}

/** The call timeout of every case that is not about timeouts: far above any honest call. */
const GENEROUS_TIMEOUT_MS = 10_000
/** The heap limit of every case that is not about memory. */
const DEFAULT_MEMORY_MB = 128

const SECOND = 1000
const MINUTE = 60 * SECOND
const DAY = 24 * 60 * MINUTE

let eventCounter = 0

/** A valid PluginEvent for the suite's team. */
function event(overrides: Record<string, unknown> = {}) {
  eventCounter += 1
  return {
    uuid: `0190c0de-0000-7000-8000-${String(eventCounter).padStart(12, '0')}`,
    distinct_id: 'user-1',
    ip: '127.0.0.1',
    site_url: 'https://app.example',
    team_id: TEAM,
    now: '2026-01-01T00:00:00.000Z',
    timestamp: '2026-01-01T00:00:00.000Z',
    event: 'pageview',
    properties: { path: '/' },
    ...overrides,
  }
}

const failed = (outcome: CallOutcome | undefined) => {
  if (!outcome || outcome.ok) throw new Error(`expected a failed outcome, got ${JSON.stringify(outcome)}`)
  return outcome.failure
}

/**
 * The {@link Sandbox} conformance suite: every plugin function of SPEC §2 and every `meta` member
 * and global of SPEC §3, with their exact semantics, run through the sandbox under test inside
 * core's own runtime (`createPluginHost` via the config manager, the pipeline, the job runner,
 * telemetry and capture) over the ports `options.services` creates, with recording doubles for
 * the sink, the ingestion queue and HTTP. Plugins are given as files, TypeScript and JavaScript.
 *
 * Each test gets a fresh sandbox from `factory`, built with the limits in `env.limits`: a
 * generous call timeout everywhere except the timeout cases (`options.shortCallTimeoutMs`), and
 * a small heap for the memory case (`options.memoryLimitMb`). The timeout cases run only when
 * `capabilities.enforcesTimeouts`, the memory case when `capabilities.enforcesMemoryLimit`, the
 * isolation cases when `capabilities.isolation` is `'isolate'`.
 *
 * @example
 * describeSandboxConformance('isolated-vm', ({ limits }) => createIsolatedVmSandbox(limits),
 *   isolatedVmSandboxCapabilities, {
 *     services: ({ time }) => ({
 *       cache: createMemoryCache({ clock: time.clock }),
 *       storage: createMemoryStorage(),
 *       jobQueue: createMemoryJobQueue(),
 *       registry: createMemoryRegistry({ clock: time.clock }),
 *       logSink: createMemoryLogSink(),
 *       metricsSink: createMemoryMetricsSink(),
 *       deadLetters: createMemoryDeadLetterStore({ clock: time.clock }),
 *     }),
 *   })
 */
export function describeSandboxConformance(
  name: string,
  factory: SandboxFactory,
  capabilities: SandboxCapabilities,
  options: SandboxSuiteOptions,
): void {
  const shortTimeoutMs = options.shortCallTimeoutMs ?? 300
  const smallHeapMb = options.memoryLimitMb ?? 16

  describe(`Sandbox conformance: ${name}`, { timeout: 20_000 }, () => {
    const opened: SandboxStack[] = []

    const open = async (
      limits: Partial<SandboxSuiteLimits> = {},
      extras: Parameters<typeof openStack>[3] = {},
    ): Promise<SandboxStack> => {
      const clock = createManualClock(START_MS)
      const time: ConformanceTime = {
        clock,
        async advance(ms) {
          clock.advance(ms)
          await new Promise((resolve) => setImmediate(resolve))
        },
      }
      const env: SuiteEnv = { time, namespace: uniqueNamespace() }
      const sandbox = await factory({
        ...env,
        limits: {
          callTimeoutMs: limits.callTimeoutMs ?? GENEROUS_TIMEOUT_MS,
          memoryLimitMb: limits.memoryLimitMb ?? DEFAULT_MEMORY_MB,
        },
      })
      const stack = await openStack(sandbox, await options.services(env), clock, extras)
      opened.push(stack)
      return stack
    }

    let stack: SandboxStack
    beforeEach(async () => {
      stack = await open()
    })
    afterEach(async () => {
      for (const each of opened.splice(0)) await each.close()
    })

    const install = (files: Record<string, string>, installOptions?: InstallOptions) =>
      stack.install(files, installOptions)
    const deliveredOf = (uuid: string): ProcessedPluginEvent => {
      const found = stack.delivered.find((e) => e.uuid === uuid)
      if (!found) throw new Error(`event ${uuid} was not delivered`)
      return found
    }
    const messages = async (plugin: Installed, source?: 'plugin' | 'system') =>
      (await plugin.logs()).filter((e) => !source || e.source === source).map((e) => e.message)

    describe('loading plugin files', () => {
      it('reports exported functions, schedules, job names and lower-cased metrics as capabilities', async () => {
        const loaded = await stack.sandbox.load({
          pluginId: 900,
          name: 'capabilities',
          version: '1',
          entry: 'index.ts',
          files: {
            'plugin.json': '{"name":"capabilities"}',
            'index.ts': `
              export const metrics = { rows: 'SUM', peak: 'Max', low: 'min' }
              export const jobs = { resend: async () => {}, cleanUp: async () => {} }
              export function setupPlugin() {}
              export function processEvent(event: unknown) { return event }
              export async function onEvent() {}
              export async function runEveryHour() {}
              export async function runEveryDay() {}
              export const notAFunction = 42
            `,
          },
        })
        try {
          expect([...loaded.capabilities.functions].sort()).toEqual(
            ['onEvent', 'processEvent', 'runEveryDay', 'runEveryHour', 'setupPlugin'].sort(),
          )
          expect([...loaded.capabilities.schedules].sort()).toEqual(['runEveryDay', 'runEveryHour'])
          expect([...loaded.capabilities.jobs].sort()).toEqual(['cleanUp', 'resend'])
          expect({ ...loaded.capabilities.metrics }).toEqual({ rows: 'sum', peak: 'max', low: 'min' })
        } finally {
          await loaded.dispose()
        }
      })

      it('runs a TypeScript plugin with types, interfaces and a relative import of another .ts file', async () => {
        await install({
          'index.ts': `
            import type { PluginEvent } from '@posthog/plugin-scaffold'
            import { shout } from './lib/format'
            interface Tagged { tag: string }
            const tag: Tagged = { tag: shout('ts') }
            export function processEvent(event: PluginEvent): PluginEvent {
              event.properties = { ...event.properties, ...tag }
              return event
            }
          `,
          'lib/format.ts': `export const shout = (text: string): string => text.toUpperCase() + '!'`,
        })
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.tag).toBe('TS!')
      })

      it('runs a CommonJS JavaScript plugin (module.exports, require of the scaffold)', async () => {
        await install({
          'index.js': `
            const { RetryError } = require('@posthog/plugin-scaffold')
            function processEvent(event) {
              event.properties.cjs = typeof RetryError
              return event
            }
            module.exports = { processEvent }
          `,
        })
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.cjs).toBe('function')
      })

      it('runs ES module syntax inside a .js file, exported as export default {…}', async () => {
        await install({
          'index.js': `
            import { helper } from './helper.js'
            export default {
              processEvent(event) {
                event.properties.esm = helper()
                return event
              },
            }
          `,
          'helper.js': `export function helper() { return 'default export' }`,
        })
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.esm).toBe('default export')
      })

      it('takes a named ES export over the same function on the default export', async () => {
        await install({
          'index.ts': `
            export function processEvent(event) { event.properties.winner = 'named'; return event }
            export default { processEvent(event) { event.properties.winner = 'default'; return event } }
          `,
        })
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.winner).toBe('named')
      })

      it('loads the entry named by plugin.json main, in a sub-folder', async () => {
        await install(
          {
            'dist/main.js': `exports.processEvent = (event) => ({ ...event, properties: { ...event.properties, main: true } })`,
          },
          { manifest: { main: 'dist/main.js' } },
        )
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.main).toBe(true)
      })

      it('fails the load of an import outside the allow-list with "Cannot import \'X\'", naming file and line', async () => {
        const plugin = await install({
          'index.ts': `import { readFileSync } from 'fs'\nimport other from './other'\nexport function processEvent(event) { readFileSync('/etc/passwd'); return other ? event : null }\n`,
          'other.ts': `\n\nimport pg from 'pg'\nexport default pg\n`,
        })
        const record = await plugin.record()
        expect(record?.enabled).toBe(false)
        expect(record?.error?.message).toContain(
          "Cannot import 'fs': this module is not available to plugins",
        )
        expect(record?.error?.message).toContain('index.ts:1')
        expect(record?.error?.message).toContain('other.ts:3')
      })

      it('fails the load when a declared metric has a type other than sum, max or min', async () => {
        const plugin = await install({
          'index.ts': `
            export const metrics = { ok: 'sum', average: 'avg' }
            export function processEvent(event) { return event }
          `,
        })
        const record = await plugin.record()
        expect(record?.enabled).toBe(false)
        expect(record?.error?.source).toBe('load')
        expect(record?.error?.message).toMatch(/average/)
      })
    })

    describe('processEvent (through core’s pipeline)', () => {
      it('a modified event continues to the sink, and the config is listed in $plugins_succeeded', async () => {
        const plugin = await install({
          'index.ts': `
            export function processEvent(event) {
              event.properties.modified = true
              event.event = 'renamed'
              return event
            }
          `,
        })
        const e = event()
        await stack.run([e])
        const out = deliveredOf(e.uuid)
        expect(out.event).toBe('renamed')
        expect(out.properties.modified).toBe(true)
        expect(out.properties.$plugins_succeeded).toEqual([plugin.tag])
      })

      it.each([
        ['null', 'return null'],
        ['undefined', 'return undefined'],
        ['nothing (no return)', ''],
      ])('returning %s drops the event', async (_, body) => {
        await install({
          'index.js': `exports.processEvent = (event) => { if (event.event !== 'drop') return event; ${body} }`,
        })
        const dropped = event({ event: 'drop' })
        const kept = event()
        await stack.run([dropped, kept])
        expect(stack.delivered.map((e) => e.uuid)).toEqual([kept.uuid])
      })

      it('a throw lets the event continue as it was before that plugin (its in-place changes discarded) and records the failure', async () => {
        const first = await install(
          { 'index.ts': `export function processEvent(e) { e.properties.first = true; return e }` },
          { name: 'first', order: 0 },
        )
        const breaks = await install(
          {
            'index.ts': `
              export function processEvent(e) {
                e.properties.broken = true
                e.event = 'mangled'
                throw new Error('boom in processEvent')
              }
            `,
          },
          { name: 'breaks', order: 1 },
        )
        const last = await install(
          { 'index.ts': `export function processEvent(e) { e.properties.last = true; return e }` },
          { name: 'last', order: 2 },
        )
        const e = event()
        await stack.run([e])
        const out = deliveredOf(e.uuid)
        expect(out.event).toBe('pageview')
        expect(out.properties).toMatchObject({ first: true, last: true })
        expect(out.properties.broken).toBeUndefined()
        expect(out.properties.$plugins_succeeded).toEqual([first.tag, last.tag])
        expect(out.properties.$plugins_failed).toEqual([breaks.tag])
        expect((await messages(breaks)).join('\n')).toContain('boom in processEvent')
      })

      it('an async throw (a rejected promise) is a failure like a synchronous one', async () => {
        const plugin = await install({
          'index.ts': `
            export async function processEvent(e, { cache }) {
              await cache.get('anything', null)
              throw new TypeError('late failure')
            }
          `,
        })
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.$plugins_failed).toEqual([plugin.tag])
        expect((await messages(plugin)).join('\n')).toContain('TypeError: late failure')
      })

      it('failures carry the error name and message, and retry only for RetryError (imported or global)', async () => {
        const plugin = await install({
          'index.ts': `
            import { RetryError } from '@posthog/plugin-scaffold'
            export function processEvent(e) {
              if (e.event === 'imported') throw new RetryError('try again later')
              if (e.event === 'global') throw new (globalThis as any).RetryError('global form')
              if (e.event === 'plain') throw new Error('plain failure')
              if (e.event === 'type') throw new TypeError('bad type')
              if (e.event === 'string') throw 'a thrown string'
              return e
            }
          `,
        })
        const outcomes = await plugin.live.instance.callEach(
          'processEvent',
          ['imported', 'global', 'plain', 'type', 'string', 'fine'].map((name, i) => ({
            lane: `lane-${i}`,
            args: [event({ event: name })],
          })),
        )
        expect(failed(outcomes[0])).toMatchObject({
          name: 'RetryError',
          message: 'try again later',
          retry: true,
        })
        expect(failed(outcomes[1])).toMatchObject({ name: 'RetryError', message: 'global form', retry: true })
        expect(failed(outcomes[2])).toMatchObject({ name: 'Error', message: 'plain failure', retry: false })
        expect(failed(outcomes[3])).toMatchObject({ name: 'TypeError', message: 'bad type', retry: false })
        expect(failed(outcomes[4])).toMatchObject({ message: 'a thrown string', retry: false })
        for (const outcome of outcomes.slice(0, 5)) expect(failed(outcome).timeout).toBe(false)
        expect(outcomes[5]).toMatchObject({ ok: true, value: { event: 'fine' } })
      })

      it('refuses a changed team_id: the event continues unchanged and the failure names the reason', async () => {
        const plugin = await install({
          'index.ts': `export function processEvent(e) { e.team_id = 999; e.properties.changed = true; return e }`,
        })
        const e = event()
        await stack.run([e])
        const out = deliveredOf(e.uuid)
        expect(out.team_id).toBe(TEAM)
        expect(out.properties.changed).toBeUndefined()
        expect(out.properties.$plugins_failed).toEqual([plugin.tag])
        expect((await messages(plugin)).join('\n')).toContain(TEAM_ID_CHANGED)
      })

      it('a plugin with only processEventBatch is called with [event] and its first result is used', async () => {
        const plugin = await install({
          'index.js': `
            exports.processEventBatch = (events) =>
              events.map((e) => ({ ...e, properties: { ...e.properties, batchSize: events.length, isArray: Array.isArray(events) } }))
          `,
        })
        const a = event()
        const b = event({ distinct_id: 'user-2' })
        await stack.run([a, b])
        for (const uuid of [a.uuid, b.uuid]) {
          expect(deliveredOf(uuid).properties).toMatchObject({ batchSize: 1, isArray: true })
          expect(deliveredOf(uuid).properties.$plugins_succeeded).toEqual([plugin.tag])
        }
      })

      it('plugins run in the team’s configured order, the output of one the input of the next', async () => {
        const source = (label: string) => ({
          'index.ts': `
            export function processEvent(e) {
              e.properties.trail = [...(e.properties.trail ?? []), '${label}']
              return e
            }
          `,
        })
        const third = await install(source('third'), { name: 'third', order: 30 })
        const first = await install(source('first'), { name: 'first', order: 10 })
        const second = await install(source('second'), { name: 'second', order: 20 })
        const elsewhere = await install(source('other team'), { name: 'other', teamId: TEAM + 1 })
        const e = event()
        await stack.run([e])
        const out = deliveredOf(e.uuid)
        expect(out.properties.trail).toEqual(['first', 'second', 'third'])
        expect(out.properties.$plugins_succeeded).toEqual([first.tag, second.tag, third.tag])
        expect(out.properties.$plugins_succeeded).not.toContain(elsewhere.tag)
      })

      it('events of one distinct_id are processed one after another in batch order', async () => {
        await install({
          'index.ts': `
            export async function processEvent(e, { cache }) {
              // The first event of a person waits longest: only ordering keeps its number first.
              for (let i = 0; i < e.properties.delay; i++) await cache.get('noise', null)
              e.properties.seq = await cache.incr('seq-' + e.distinct_id)
              return e
            }
          `,
        })
        const events = [
          event({ distinct_id: 'a', properties: { delay: 12 } }),
          event({ distinct_id: 'b', properties: { delay: 6 } }),
          event({ distinct_id: 'a', properties: { delay: 3 } }),
          event({ distinct_id: 'b', properties: { delay: 0 } }),
          event({ distinct_id: 'a', properties: { delay: 0 } }),
        ]
        await stack.run(events)
        expect(events.map((e) => deliveredOf(e.uuid).properties.seq)).toEqual([1, 1, 2, 2, 3])
      })

      it('$snapshot events skip processEvent', async () => {
        await install({
          'index.ts': `export function processEvent(e) { e.properties.processed = true; return e }`,
        })
        const snapshot = event({ event: '$snapshot' })
        await stack.run([snapshot])
        expect(deliveredOf(snapshot.uuid).properties.processed).toBeUndefined()
      })
    })

    describe('onEvent and onSnapshot', () => {
      const recorder = (fn: 'onEvent' | 'onSnapshot') => ({
        'index.ts': `
          export async function ${fn}(event, { cache }) {
            await cache.lpush('seen', JSON.stringify({
              uuid: event.uuid,
              event: event.event,
              tag: event.properties.tag ?? null,
              timestampType: typeof event.timestamp,
              timestamp: event.timestamp,
              hasNow: 'now' in event,
            }))
            return 'ignored'
          }
        `,
      })
      const seen = async (plugin: Installed) => {
        const list = await stack.services.cache.lrange(
          `@plugin/${plugin.pluginId}/${plugin.teamId}/seen`,
          0,
          -1,
        )
        return list.map((item) => JSON.parse(item)).reverse()
      }

      it('onEvent sees every kept non-$snapshot event after the processEvent chain, in processed form', async () => {
        await install(
          {
            'index.ts': `
              export function processEvent(e) {
                if (e.event === 'drop me') return null
                e.properties.tag = 'from the chain'
                return e
              }
            `,
          },
          { name: 'transform', order: 0 },
        )
        const listener = await install(recorder('onEvent'), { name: 'listener', order: 1 })
        const kept = event()
        const dropped = event({ event: 'drop me' })
        const snapshot = event({ event: '$snapshot' })
        await stack.run([kept, dropped, snapshot])
        expect(await seen(listener)).toEqual([
          {
            uuid: kept.uuid,
            event: 'pageview',
            tag: 'from the chain',
            timestampType: 'string',
            timestamp: '2026-01-01T00:00:00.000Z',
            hasNow: false,
          },
        ])
        expect(deliveredOf(kept.uuid).properties.$plugins_deferred).toEqual([listener.tag])
      })

      it('onEvent is read-only: a plugin changing its event changes neither the sink nor another plugin’s copy', async () => {
        await install(
          {
            'index.ts': `
              export function onEvent(e) {
                e.event = 'changed'
                e.properties.tag = 'changed'
              }
            `,
          },
          { name: 'mutator' },
        )
        const listener = await install(recorder('onEvent'), { name: 'listener' })
        const e = event({ properties: { tag: 'original' } })
        await stack.run([e])
        expect(await seen(listener)).toMatchObject([{ event: 'pageview', tag: 'original' }])
        expect(deliveredOf(e.uuid)).toMatchObject({ event: 'pageview', properties: { tag: 'original' } })
      })

      it('onEvent throwing RetryError is retried durably (a job) and succeeds on the next attempt', async () => {
        const plugin = await install({
          'index.ts': `
            import { RetryError } from '@posthog/plugin-scaffold'
            export async function onEvent(e, { cache }) {
              const attempt = await cache.incr('attempt-' + e.uuid)
              if (attempt === 1) throw new RetryError('downstream busy')
              await cache.set('done-' + e.uuid, attempt)
            }
          `,
        })
        const e = event()
        await stack.run([e])
        expect(await plugin.cached(`done-${e.uuid}`)).toBeNull()
        expect(await stack.services.jobQueue.count()).toBe(1)
        await stack.advance(5 * SECOND)
        await stack.runJobs()
        expect(await plugin.cached(`done-${e.uuid}`)).toBe('2')
        expect(await stack.services.jobQueue.count()).toBe(0)
      })

      it('onEvent throwing another error is recorded, not retried', async () => {
        const plugin = await install({
          'index.ts': `export function onEvent() { throw new Error('listener broke') }`,
        })
        await stack.run([event()])
        expect(await stack.services.jobQueue.count()).toBe(0)
        expect((await messages(plugin)).join('\n')).toContain('listener broke')
      })

      it('onSnapshot sees only $snapshot events, which skip processEvent', async () => {
        const plugin = await install({
          'index.ts': `
            export function processEvent(e) { e.properties.tag = 'processed'; return e }
            ${recorder('onSnapshot')['index.ts']}
          `,
        })
        const regular = event()
        const snapshot = event({ event: '$snapshot' })
        await stack.run([regular, snapshot])
        expect(await seen(plugin)).toMatchObject([{ uuid: snapshot.uuid, event: '$snapshot', tag: null }])
      })

      it('onSnapshot throwing RetryError is retried durably', async () => {
        const plugin = await install({
          'index.js': `
            exports.onSnapshot = async (e, { cache }) => {
              if ((await cache.incr('attempts')) === 1) throw new RetryError('not yet')
              await cache.set('done', e.uuid)
            }
          `,
        })
        const snapshot = event({ event: '$snapshot' })
        await stack.run([snapshot])
        expect(await stack.services.jobQueue.count()).toBe(1)
        await stack.advance(5 * SECOND)
        await stack.runJobs()
        expect(await plugin.cached('done')).toBe(JSON.stringify(snapshot.uuid))
      })
    })

    describe('exportEvents', () => {
      const exporter = (failure: string) => ({
        'index.ts': `
          import { RetryError } from '@posthog/plugin-scaffold'
          export async function exportEvents(events, { cache }) {
            const call = await cache.incr('calls')
            ${failure}
            await cache.lpush('batches', JSON.stringify(events.map((e) => e.uuid)))
          }
        `,
      })
      const batches = async (plugin: Installed) =>
        (await stack.services.cache.lrange(`@plugin/${plugin.pluginId}/${plugin.teamId}/batches`, 0, -1))
          .map((item) => JSON.parse(item))
          .reverse()

      it('receives the kept events as one batch once the buffer window has passed', async () => {
        const plugin = await install(exporter(''))
        const events = [event(), event({ distinct_id: 'user-2' }), event()]
        await stack.run(events)
        await stack.runJobs()
        expect(await batches(plugin)).toEqual([])
        await stack.advance(10 * SECOND)
        await stack.runJobs()
        expect(await batches(plugin)).toEqual([events.map((e) => e.uuid)])
        expect(await plugin.metrics()).toMatchObject({ events_seen: 3, events_delivered_successfully: 3 })
      })

      it('RetryError retries the same batch later', async () => {
        const plugin = await install(exporter(`if (call === 1) throw new RetryError('warehouse busy')`))
        const events = [event(), event()]
        await stack.run(events)
        await stack.advance(10 * SECOND)
        await stack.runJobs()
        expect(await batches(plugin)).toEqual([])
        await stack.advance(6 * SECOND)
        await stack.runJobs()
        expect(await batches(plugin)).toEqual([events.map((e) => e.uuid)])
        expect(await plugin.metrics()).toMatchObject({ retry_errors: 1, events_delivered_successfully: 2 })
      })

      it('a batch that keeps throwing RetryError ends in the dead-letter store; another error goes there at once', async () => {
        const retrying = await install(exporter(`throw new RetryError('always busy')`), { name: 'retrying' })
        const broken = await install(exporter(`throw new Error('bad credentials')`), { name: 'broken' })
        const e = event()
        await stack.run([e])
        await stack.advance(10 * SECOND)
        await stack.runJobs()
        const brokenLetters = await stack.services.deadLetters.list({ configId: broken.configId })
        expect(brokenLetters).toHaveLength(1)
        expect(brokenLetters[0]?.reason).toContain('bad credentials')
        expect(brokenLetters[0]?.payload).toContain(e.uuid)
        for (let round = 0; round < 6; round++) {
          await stack.advance(30 * SECOND)
          await stack.runJobs()
        }
        const retryLetters = await stack.services.deadLetters.list({ configId: retrying.configId })
        expect(retryLetters).toHaveLength(1)
        expect(retryLetters[0]?.source).toBe('export-events')
        expect(Number(await retrying.cached('calls'))).toBeGreaterThan(1)
        expect(await broken.cached('calls')).toBe('1')
      })
    })

    describe('composeWebhook', () => {
      const composer = {
        'index.ts': `
          export function composeWebhook(event) {
            if (event.event === 'skip') return null
            return {
              url: 'https://hooks.example/in',
              method: 'PUT',
              headers: { 'X-Signature': 'abc' },
              body: JSON.stringify({ uuid: event.uuid, path: event.properties.path }),
            }
          }
        `,
      }

      it('the returned {url, body, headers, method} is delivered by the server as given; null sends nothing', async () => {
        await install(composer)
        const sent = event()
        await stack.run([sent, event({ event: 'skip' })])
        await stack.runJobs()
        expect(stack.requests).toHaveLength(1)
        expect(stack.requests[0]).toMatchObject({
          url: 'https://hooks.example/in',
          method: 'PUT',
          headers: { 'X-Signature': 'abc' },
        })
        expect(JSON.parse(String(stack.requests[0]?.body))).toEqual({ uuid: sent.uuid, path: '/' })
      })

      it('receives a PostHogEvent whose timestamp is a Date (SPEC §4)', async () => {
        await install({
          'index.ts': `
            export function composeWebhook(event) {
              return {
                url: 'https://hooks.example/in',
                body: JSON.stringify({
                  isDate: event.timestamp instanceof Date,
                  iso: new Date(event.timestamp).toISOString(),
                  fields: ['uuid', 'team_id', 'distinct_id', 'event', 'properties'].filter((k) => k in event),
                }),
              }
            }
          `,
        })
        await stack.run([event({ timestamp: '2026-01-01T10:20:30.000Z' })])
        await stack.runJobs()
        expect(JSON.parse(String(stack.requests[0]?.body))).toEqual({
          isDate: true,
          iso: '2026-01-01T10:20:30.000Z',
          fields: ['uuid', 'team_id', 'distinct_id', 'event', 'properties'],
        })
      })
    })

    describe('setupPlugin and teardownPlugin', () => {
      it('setupPlugin runs once, before any other call, with meta', async () => {
        const plugin = await install({
          'index.ts': `
            export async function setupPlugin({ global, cache, config }) {
              global.setUpAt = await cache.incr('setups')
            }
            export function processEvent(e, { global }) { e.properties.setUpAt = global.setUpAt; return e }
          `,
        })
        expect(await plugin.cached('setups')).toBe('1')
        const a = event()
        const b = event()
        await stack.run([a])
        await stack.run([b])
        expect(deliveredOf(a.uuid).properties.setUpAt).toBe(1)
        expect(deliveredOf(b.uuid).properties.setUpAt).toBe(1)
        expect(await plugin.cached('setups')).toBe('1')
      })

      it('setupPlugin throwing an error disables the config with the error recorded', async () => {
        const plugin = await install({
          'index.ts': `
            export function setupPlugin() { throw new Error('missing API key') }
            export function processEvent(e) { e.properties.ran = true; return e }
          `,
        })
        const record = await plugin.record()
        expect(record?.enabled).toBe(false)
        expect(record?.error).toMatchObject({ source: 'setupPlugin' })
        expect(record?.error?.message).toContain('missing API key')
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.ran).toBeUndefined()
      })

      it('setupPlugin throwing RetryError is retried later; the config starts once it succeeds', async () => {
        const plugin = await install({
          'index.ts': `
            import { RetryError } from '@posthog/plugin-scaffold'
            export async function setupPlugin({ cache, global }) {
              const attempt = await cache.incr('attempts')
              if (attempt === 1) throw new RetryError('warming up')
              global.attempt = attempt
            }
            export function processEvent(e, { global }) { e.properties.attempt = global.attempt; return e }
          `,
        })
        expect(plugin.live.status).toBe('setting-up')
        expect((await plugin.record())?.enabled).toBe(true)
        await stack.advance(5 * SECOND)
        await stack.runJobs()
        expect(plugin.live.status).toBe('ready')
        const e = event()
        await stack.run([e])
        expect(deliveredOf(e.uuid).properties.attempt).toBe(2)
      })

      it('teardownPlugin runs with meta when the config is disabled', async () => {
        const plugin = await install({
          'index.ts': `
            export function setupPlugin({ global }) { global.marker = 'set up' }
            export async function teardownPlugin({ global, cache }) { await cache.set('torn down', global.marker) }
          `,
        })
        expect(await plugin.cached('torn down')).toBeNull()
        await stack.services.registry.updateConfig(plugin.configId, { enabled: false })
        await stack.configs.reconcile()
        expect(await plugin.cached('torn down')).toBe('"set up"')
        expect(stack.configs.get(plugin.configId)).toBeUndefined()
      })

      it('teardownPlugin errors are recorded and the config is unloaded anyway', async () => {
        const plugin = await install({
          'index.ts': `export function teardownPlugin() { throw new Error('cleanup failed') }`,
        })
        await stack.services.registry.updateConfig(plugin.configId, { enabled: false })
        await stack.configs.reconcile()
        expect(stack.configs.get(plugin.configId)).toBeUndefined()
        expect((await messages(plugin, 'system')).join('\n')).toMatch(/teardownPlugin failed.*cleanup failed/)
      })
    })

    describe('scheduled tasks, getSettings and jobs', () => {
      it('runEveryMinute, runEveryHour and runEveryDay run with meta', async () => {
        const plugin = await install({
          'index.ts': `
            export async function runEveryMinute({ cache }) { await cache.incr('minute') }
            export async function runEveryHour({ cache }) { await cache.incr('hour') }
            export async function runEveryDay({ cache }) { await cache.incr('day') }
          `,
        })
        expect([...plugin.live.capabilities.schedules].sort()).toEqual([
          'runEveryDay',
          'runEveryHour',
          'runEveryMinute',
        ])
        await plugin.call('runEveryMinute')
        await plugin.call('runEveryMinute')
        await plugin.call('runEveryHour')
        await plugin.call('runEveryDay')
        expect(await plugin.cached('minute')).toBe('2')
        expect(await plugin.cached('hour')).toBe('1')
        expect(await plugin.cached('day')).toBe('1')
      })

      it('getSettings returns its settings object', async () => {
        const plugin = await install({
          'index.ts': `export function getSettings() { return { handlesLargeBatches: true } }`,
        })
        expect(await plugin.call('getSettings')).toEqual({ handlesLargeBatches: true })
      })

      const scheduler = {
        'index.ts': `
          import { RetryError } from '@posthog/plugin-scaffold'
          export const jobs = {
            async remember(payload, meta) {
              const run = await meta.cache.incr('runs')
              await meta.storage.set('remembered', { payload, run, metaIsLast: typeof meta.storage.get === 'function' })
            },
            async flaky(payload, { cache }) {
              const attempt = await cache.incr('flaky')
              if (attempt === 1) throw new RetryError('try again')
              await cache.set('flaky done', attempt)
            },
            async schedule(how, { jobs }) {
              const job = jobs[how.job ?? 'remember']({ scheduledWith: how.kind })
              if (how.kind === 'now') await job.runNow()
              else if (how.kind === 'in') await job.runIn(how.amount, how.unit)
              else await job.runAt(new Date(how.date))
              return 'scheduled'
            },
          }
          export async function processEvent(e, { jobs }) {
            await jobs.remember({ uuid: e.uuid }).runIn(2, 'minutes')
            return e
          }
        `,
      }

      it('a job enqueued with runIn(2, "minutes") from processEvent runs jobs.<name>(payload, meta) when due', async () => {
        const plugin = await install(scheduler)
        const e = event()
        await stack.run([e])
        await stack.advance(2 * MINUTE - 1)
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toBeUndefined()
        await stack.advance(1)
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toEqual({
          payload: { uuid: e.uuid },
          run: 1,
          metaIsLast: true,
        })
      })

      it('runNow() runs the job at once; runAt(date) at that date', async () => {
        const plugin = await install(scheduler)
        expect(await plugin.call('jobs.schedule', { kind: 'at', date: '2026-01-01T01:00:00.000Z' })).toBe(
          'scheduled',
        )
        await plugin.call('jobs.schedule', { kind: 'now' })
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toMatchObject({ payload: { scheduledWith: 'now' }, run: 1 })
        await stack.advance(60 * MINUTE - 1)
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toMatchObject({ run: 1 })
        await stack.advance(1)
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toMatchObject({ payload: { scheduledWith: 'at' }, run: 2 })
      })

      it('runIn counts months on the calendar: 1 month from 31 January is 28 February', async () => {
        const plugin = await install(scheduler)
        await stack.advance(30 * DAY)
        await plugin.call('jobs.schedule', { kind: 'in', amount: 1, unit: 'month' })
        stack.clock.advanceTo(Date.UTC(2026, 1, 28) - 1)
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toBeUndefined()
        stack.clock.advanceTo(Date.UTC(2026, 1, 28))
        await stack.runJobs()
        expect(await plugin.stored('remembered')).toMatchObject({ run: 1 })
      })

      it('an unknown time unit throws at the call and enqueues nothing', async () => {
        const plugin = await install(scheduler)
        await expect(
          plugin.call('jobs.schedule', { kind: 'in', amount: 2, unit: 'fortnights' }),
        ).rejects.toMatchObject({
          failure: { message: expect.stringContaining('fortnights') },
        })
        expect(await stack.services.jobQueue.count()).toBe(0)
      })

      it('an unknown job name throws at the call and enqueues nothing', async () => {
        const plugin = await install(scheduler)
        await expect(plugin.call('jobs.schedule', { kind: 'now', job: 'noSuchJob' })).rejects.toMatchObject({
          failure: { retry: false },
        })
        expect(await stack.services.jobQueue.count()).toBe(0)
      })

      it('a job throwing RetryError is queued again and runs after the backoff', async () => {
        const plugin = await install(scheduler)
        await plugin.call('jobs.schedule', { kind: 'now', job: 'flaky' })
        await stack.runJobs()
        expect(await plugin.cached('flaky done')).toBeNull()
        expect(await stack.services.jobQueue.count()).toBe(1)
        await stack.advance(5 * SECOND)
        await stack.runJobs()
        expect(await plugin.cached('flaky done')).toBe('2')
      })
    })

    describe('meta.config, meta.attachments and meta.global', () => {
      it('meta.config is the saved config with defaults applied and json fields parsed', async () => {
        const plugin = await install(
          {
            'index.ts': `export const jobs = { probe: (_payload, { config }) => config }`,
          },
          {
            schema: [
              { key: 'apiKey', type: 'string', required: true, secret: true },
              { key: 'region', type: 'choice', choices: ['eu', 'us'], default: 'eu' },
              { key: 'mapping', type: 'json' },
              { key: 'fallback', type: 'json', default: '{"depth":1}' },
            ],
            config: { apiKey: 'k-123', mapping: '{"$browser":"browser","tags":["a",1,null]}' },
          },
        )
        expect(await plugin.call('jobs.probe', {})).toEqual({
          apiKey: 'k-123',
          region: 'eu',
          mapping: { $browser: 'browser', tags: ['a', 1, null] },
          fallback: { depth: 1 },
        })
      })

      it('meta.attachments hold content_type, file_name and the exact bytes as a Buffer', async () => {
        const bytes = Uint8Array.from([0, 1, 127, 128, 255, 0xc3, 0x28, 10, 0x68, 0x69])
        const plugin = await install(
          {
            'index.ts': `
              export const jobs = {
                probe(_payload, { attachments }) {
                  const file = attachments.keyFile
                  return {
                    isBuffer: Buffer.isBuffer(file.contents),
                    length: file.contents.length,
                    base64: file.contents.toString('base64'),
                    content_type: file.content_type,
                    file_name: file.file_name,
                    missing: attachments.other === undefined,
                  }
                },
              }
            `,
          },
          {
            schema: [{ key: 'keyFile', type: 'attachment' }],
            attachments: {
              keyFile: { contentType: 'application/octet-stream', fileName: 'key.bin', contents: bytes },
            },
          },
        )
        expect(await plugin.call('jobs.probe', {})).toEqual({
          isBuffer: true,
          length: bytes.length,
          base64: Buffer.from(bytes).toString('base64'),
          content_type: 'application/octet-stream',
          file_name: 'key.bin',
          missing: true,
        })
      })

      it('meta.global is kept between calls and private to each config of a plugin', async () => {
        const files = {
          'index.ts': `
            export function setupPlugin({ global, config }) { global.who = config.who; global.calls = 0 }
            export const jobs = { probe: (_payload, { global }) => ({ who: global.who, calls: ++global.calls }) }
          `,
        }
        const schema = [{ key: 'who', type: 'string' }]
        const a = await install(files, { schema, config: { who: 'A' } })
        const b = await stack.addConfig(a.pluginId, { config: { who: 'B' } })
        const c = await stack.addConfig(a.pluginId, { teamId: TEAM + 1, config: { who: 'C' } })
        expect(await a.call('jobs.probe', {})).toEqual({ who: 'A', calls: 1 })
        expect(await a.call('jobs.probe', {})).toEqual({ who: 'A', calls: 2 })
        expect(await b.call('jobs.probe', {})).toEqual({ who: 'B', calls: 1 })
        expect(await c.call('jobs.probe', {})).toEqual({ who: 'C', calls: 1 })
        expect(await a.call('jobs.probe', {})).toEqual({ who: 'A', calls: 3 })
      })
    })

    describe('meta.metrics', () => {
      const files = {
        'index.ts': `
          export const metrics = { total: 'SUM', peak: 'Max', low: 'min' }
          const attempt = (fn) => {
            try { fn(); return 'no error' } catch (e) { return { name: e.name, isTypeError: e instanceof TypeError, message: e.message } }
          }
          export const jobs = {
            update(_payload, { metrics }) {
              metrics.total.increment(2)
              metrics.total.increment(3)
              metrics.peak.max(5)
              metrics.peak.max(3)
              metrics.low.min(4)
              metrics.low.min(9)
            },
            misuse(_payload, { metrics }) {
              return {
                wrongOperation: attempt(() => metrics.total.max(100)),
                unknownName: attempt(() => metrics.nope.increment(1)),
                notANumber: attempt(() => metrics.total.increment('7')),
                notFinite: attempt(() => metrics.peak.max(Infinity)),
              }
            },
          }
        `,
      }

      it('increment sums, max keeps the largest, min the smallest (declared types are case-insensitive)', async () => {
        const plugin = await install(files)
        await plugin.call('jobs.update', {})
        expect(await plugin.metrics()).toMatchObject({ total: 5, peak: 5, low: 4 })
      })

      it('the wrong operation throws a TypeError; an unknown name or a non-number throws; nothing is recorded', async () => {
        const plugin = await install(files)
        const result = (await plugin.call('jobs.misuse', {})) as Record<string, Record<string, unknown>>
        expect(result.wrongOperation).toMatchObject({ name: 'TypeError', isTypeError: true })
        expect(result.unknownName).not.toBe('no error')
        expect(result.unknownName?.message).toContain('nope')
        expect(result.notANumber).not.toBe('no error')
        expect(result.notFinite).not.toBe('no error')
        expect(await plugin.metrics()).toEqual({})
      })
    })

    describe('meta.cache', () => {
      const probe = (body: string) => ({
        'index.ts': `export const jobs = { async probe(input, { cache }) { ${body} } }`,
      })

      it('set then get returns the JSON value; a missing key returns the default', async () => {
        const plugin = await install(
          probe(`
            await cache.set('object', { nested: [1, 'two', null], ok: true })
            await cache.set('number', 42)
            return {
              object: await cache.get('object', null),
              number: await cache.get('number', 0),
              missing: await cache.get('missing', 'the default'),
              missingNull: await cache.get('missing', null),
            }
          `),
        )
        expect(await plugin.call('jobs.probe', {})).toEqual({
          object: { nested: [1, 'two', null], ok: true },
          number: 42,
          missing: 'the default',
          missingNull: null,
        })
      })

      it('jsonSerialize: false stores and returns raw text', async () => {
        const plugin = await install(
          probe(`
            await cache.set('raw', 'plain text', undefined, { jsonSerialize: false })
            await cache.set('json', { a: 1 })
            return {
              raw: await cache.get('raw', null, { jsonSerialize: false }),
              jsonAsText: await cache.get('json', null, { jsonSerialize: false }),
              jsonParsed: await cache.get('json', null, { jsonSerialize: true }),
            }
          `),
        )
        expect(await plugin.call('jobs.probe', {})).toEqual({
          raw: 'plain text',
          jsonAsText: '{"a":1}',
          jsonParsed: { a: 1 },
        })
        expect(await plugin.cached('raw')).toBe('plain text')
      })

      it('keys live under @plugin/<pluginId>/<teamId>/ in the Cache port', async () => {
        const plugin = await install(probe(`await cache.set('k', { v: 1 })`))
        await plugin.call('jobs.probe', {})
        expect(await stack.services.cache.get(`@plugin/${plugin.pluginId}/${plugin.teamId}/k`)).toBe(
          '{"v":1}',
        )
      })

      it('a ttl expires the key after that many seconds', async () => {
        const plugin = await install(
          probe(`
            if (input.step === 'set') { await cache.set('short', 'lived', 2); return null }
            return await cache.get('short', 'expired')
          `),
        )
        await plugin.call('jobs.probe', { step: 'set' })
        await stack.advance(2 * SECOND - 1)
        expect(await plugin.call('jobs.probe', { step: 'get' })).toBe('lived')
        await stack.advance(1)
        expect(await plugin.call('jobs.probe', { step: 'get' })).toBe('expired')
      })

      it('incr counts up from 0 and from a stored number', async () => {
        const plugin = await install(
          probe(`
            const first = await cache.incr('counter')
            const second = await cache.incr('counter')
            await cache.set('stored', 10)
            return [first, second, await cache.incr('stored')]
          `),
        )
        expect(await plugin.call('jobs.probe', {})).toEqual([1, 2, 11])
      })

      it('expire returns true for an existing key (which then expires) and false for a missing one', async () => {
        const plugin = await install(
          probe(`
            if (input.step === 'set') {
              await cache.set('k', 'v')
              return [await cache.expire('k', 1), await cache.expire('missing', 1)]
            }
            return await cache.get('k', 'gone')
          `),
        )
        expect(await plugin.call('jobs.probe', { step: 'set' })).toEqual([true, false])
        await stack.advance(SECOND)
        expect(await plugin.call('jobs.probe', { step: 'get' })).toBe('gone')
      })

      it('lpush takes a string or an array; lrange, llen, lpop with a count and lrem work like Redis', async () => {
        const plugin = await install(
          probe(`
            const pushed = [await cache.lpush('list', ['a', 'b', 'c']), await cache.lpush('list', 'd')]
            const all = await cache.lrange('list', 0, -1)
            const firstTwo = await cache.lrange('list', 0, 1)
            const length = await cache.llen('list')
            const popped = await cache.lpop('list', 2)
            await cache.lpush('list', ['x', 'b', 'x'])
            const removed = await cache.lrem('list', 0, 'x')
            return { pushed, all, firstTwo, length, popped, removed, rest: await cache.lrange('list', 0, -1), emptyLength: await cache.llen('none') }
          `),
        )
        expect(await plugin.call('jobs.probe', {})).toEqual({
          pushed: [3, 4],
          all: ['d', 'c', 'b', 'a'],
          firstTwo: ['d', 'c'],
          length: 4,
          popped: ['d', 'c'],
          removed: 2,
          rest: ['b', 'b', 'a'],
          emptyLength: 0,
        })
      })

      it('lpush accepts 1000 items at once and refuses 1001', async () => {
        const plugin = await install(
          probe(`
            const items = (n) => Array.from({ length: n }, (_, i) => 'item-' + i)
            const accepted = await cache.lpush('thousand', items(1000))
            let refused = 'no error'
            try { await cache.lpush('more', items(1001)) } catch (e) { refused = e.message }
            return { accepted, refused, moreLength: await cache.llen('more') }
          `),
        )
        const result = (await plugin.call('jobs.probe', {})) as Record<string, unknown>
        expect(result.accepted).toBe(1000)
        expect(result.refused).toMatch(/1000/)
        expect(result.moreLength).toBe(0)
      })
    })

    describe('meta.storage and meta.utils.cursor', () => {
      it('storage: get of a missing key returns the default; set stores JSON; set(undefined) and del delete', async () => {
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe(_input, { storage }) {
                const missing = await storage.get('k', 'the default')
                await storage.set('k', { list: [1, 'a'], nested: { ok: true } })
                const stored = await storage.get('k', null)
                await storage.set('k', undefined)
                const afterUndefined = await storage.get('k', 'deleted')
                await storage.set('j', 1)
                await storage.del('j')
                await storage.set('kept', 'yes')
                return { missing, stored, afterUndefined, afterDel: await storage.get('j', 'deleted') }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual({
          missing: 'the default',
          stored: { list: [1, 'a'], nested: { ok: true } },
          afterUndefined: 'deleted',
          afterDel: 'deleted',
        })
        expect(await plugin.stored('kept')).toBe('yes')
      })

      it('storage is private to each config', async () => {
        const files = {
          'index.ts': `
            export const jobs = {
              async probe(input, { storage }) {
                if (input.write) await storage.set('owner', input.write)
                return storage.get('owner', null)
              },
            }
          `,
        }
        const a = await install(files)
        const b = await stack.addConfig(a.pluginId)
        await a.call('jobs.probe', { write: 'a' })
        expect(await b.call('jobs.probe', {})).toBeNull()
        expect(await a.call('jobs.probe', {})).toBe('a')
      })

      it('cursor: init sets a start once (0 by default) and increment returns the new value', async () => {
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe(_input, { utils: { cursor } }) {
                await cursor.init('default')
                await cursor.init('from100', 100)
                const values = [await cursor.increment('default'), await cursor.increment('default', 10), await cursor.increment('from100')]
                await cursor.init('default', 500)
                values.push(await cursor.increment('default'))
                return values
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual([1, 11, 101, 12])
      })

      it('cursor.increment is atomic under concurrent calls: every value is handed out once', async () => {
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe(_input, { utils: { cursor } }) {
                await cursor.init('c')
                return Promise.all(Array.from({ length: 40 }, () => cursor.increment('c')))
              },
            }
            export async function processEvent(e, { utils: { cursor } }) {
              e.properties.n = await cursor.increment('c')
              return e
            }
          `,
        })
        const values = (await plugin.call('jobs.probe', {})) as number[]
        expect([...values].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
        const events = Array.from({ length: 20 }, (_, i) => event({ distinct_id: `person-${i}` }))
        await stack.run(events)
        const numbers = events.map((e) => deliveredOf(e.uuid).properties.n as number)
        expect(numbers.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 41))
      })
    })

    describe('meta.geoip', () => {
      it('locate returns the MaxMind City record of an address, null for an unknown one', async () => {
        stack = await open({}, { geoip: geoipDouble })
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe(input, { geoip }) {
                return { known: await geoip.locate(input.known), unknown: await geoip.locate('10.0.0.1') }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', { known: KNOWN_IP })).toEqual({
          known: KNOWN_CITY,
          unknown: null,
        })
      })

      it('locate fails with a clear error when no GeoIP database is configured', async () => {
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe(_input, { geoip }) {
                try { await geoip.locate('${KNOWN_IP}'); return 'no error' } catch (e) { return e.message }
              },
            }
          `,
        })
        const message = await plugin.call('jobs.probe', {})
        expect(message).toMatch(/geoip/i)
        expect(message).toMatch(/configured/i)
      })
    })

    describe('globals: posthog, fetch, console', () => {
      it('posthog.capture reaches core’s capture: a new event for the same team on the ingestion queue', async () => {
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe() {
                await posthog.capture('plugin did something', { distinct_id: 'person-7', detail: { n: 1 } })
                return 'captured'
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toBe('captured')
        expect(stack.captured).toHaveLength(1)
        expect(JSON.parse(stack.captured[0]?.value ?? 'null')).toMatchObject({
          event: 'plugin did something',
          distinct_id: 'person-7',
          team_id: plugin.teamId,
          properties: { detail: { n: 1 } },
        })
      })

      it('posthog.api sends requests to the configured PostHog with its key; GET puts data in the query', async () => {
        stack.respond(() => ({
          status: 200,
          headers: { 'Content-Type': 'application/json' },
          body: '{"results":[]}',
        }))
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe() {
                const got = await posthog.api.get('/api/event_definitions', { data: { limit: 2 } })
                const posted = await posthog.api.post('/api/annotations', { data: { content: 'deployed' } })
                return { status: got.status, ok: got.ok, json: await got.json(), postedStatus: posted.status }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual({
          status: 200,
          ok: true,
          json: { results: [] },
          postedStatus: 200,
        })
        const [get, post] = stack.requests
        const getUrl = new URL(String(get?.url))
        expect(`${getUrl.origin}${getUrl.pathname}`).toBe(`${POSTHOG_API.host}/api/event_definitions`)
        expect(getUrl.searchParams.get('limit')).toBe('2')
        expect(get?.method).toBe('GET')
        expect(post?.method).toBe('POST')
        expect(post?.url).toBe(`${POSTHOG_API.host}/api/annotations`)
        expect(JSON.parse(String(post?.body))).toMatchObject({ content: 'deployed' })
        expect(JSON.stringify([get, post])).toContain(POSTHOG_API.personalApiKey)
      })

      it('fetch sends method, headers and body, and returns a Response (status, ok, headers.get, json(), text())', async () => {
        stack.respond((request) =>
          request.url.endsWith('/missing')
            ? { status: 404, statusText: 'Not Found', body: 'no such thing' }
            : {
                status: 201,
                headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'r-1' },
                body: '{"id":7}',
              },
        )
        const plugin = await install({
          'index.ts': `
            import nodeFetch from 'node-fetch'
            export const jobs = {
              async probe() {
                const created = await fetch('https://api.example/things', {
                  method: 'POST',
                  headers: { 'Content-Type': 'application/json', 'X-Api-Key': 'secret' },
                  body: JSON.stringify({ name: 'hog' }),
                })
                const missing = await nodeFetch('https://api.example/missing')
                return {
                  status: created.status,
                  ok: created.ok,
                  contentType: created.headers.get('content-type'),
                  requestId: created.headers.get('X-REQUEST-ID'),
                  absent: created.headers.get('x-absent'),
                  json: await created.json(),
                  missingStatus: missing.status,
                  missingOk: missing.ok,
                  missingText: await missing.text(),
                }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual({
          status: 201,
          ok: true,
          contentType: 'application/json',
          requestId: 'r-1',
          absent: null,
          json: { id: 7 },
          missingStatus: 404,
          missingOk: false,
          missingText: 'no such thing',
        })
        expect(stack.requests[0]).toMatchObject({ url: 'https://api.example/things', method: 'POST' })
        const headers = Object.fromEntries(
          Object.entries(stack.requests[0]?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        )
        expect(headers).toMatchObject({ 'content-type': 'application/json', 'x-api-key': 'secret' })
        expect(JSON.parse(String(stack.requests[0]?.body))).toEqual({ name: 'hog' })
        expect(stack.telemetry.counters(plugin.configId).fetches).toBe(2)
      })

      it('a request the host refuses rejects the plugin’s fetch', async () => {
        stack.respond(() => new Error('connection refused'))
        const plugin = await install({
          'index.ts': `
            export const jobs = {
              async probe() {
                try { await fetch('https://down.example/'); return 'no error' } catch (e) { return e.message }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toContain('connection refused')
      })

      it('console.log/info/warn/error/debug write plugin log entries: arguments joined by spaces, objects as JSON', async () => {
        const plugin = await install({
          'index.js': `
            exports.jobs = {
              speak() {
                console.log('plain', 1, { nested: { a: [1, 2] } }, [3, 'x'], null, true)
                console.info('info line')
                console.warn('warn line')
                console.error('error line')
                console.debug('debug line')
              },
            }
          `,
        })
        await plugin.call('jobs.speak', {})
        const entries = (await plugin.logs()).filter((entry) => entry.source === 'plugin')
        expect(entries.map((entry) => [entry.level, entry.message])).toEqual([
          ['log', 'plain 1 {"nested":{"a":[1,2]}} [3,"x"] null true'],
          ['info', 'info line'],
          ['warn', 'warn line'],
          ['error', 'error line'],
          ['debug', 'debug line'],
        ])
        expect(entries.every((entry) => entry.configId === plugin.configId && entry.teamId === TEAM)).toBe(
          true,
        )
      })

      it('RetryError is the same class from @posthog/plugin-scaffold and the global, and is an Error', async () => {
        const plugin = await install({
          'index.ts': `
            import { RetryError as Imported } from '@posthog/plugin-scaffold'
            export const jobs = {
              probe() {
                const error = new Imported('x')
                return { same: Imported === RetryError, isError: error instanceof Error, name: error.name, message: error.message }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual({
          same: true,
          isError: true,
          name: 'RetryError',
          message: 'x',
        })
      })
    })

    // A sandbox running plugins in the host realm (isolation: 'none') cannot keep them from it.
    describe.runIf(capabilities.isolation === 'isolate')('isolation', () => {
      it('plugins see no process, setTimeout, setInterval or setImmediate, and cannot reach the host through Function', async () => {
        const plugin = await install({
          'index.js': `
            exports.jobs = {
              probe() {
                let viaFunction
                try { viaFunction = typeof Function('return this')().process } catch (e) { viaFunction = 'threw' }
                return {
                  process: typeof process,
                  setTimeout: typeof setTimeout,
                  setInterval: typeof setInterval,
                  setImmediate: typeof setImmediate,
                  viaFunction,
                }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', {})).toEqual({
          process: 'undefined',
          setTimeout: 'undefined',
          setInterval: 'undefined',
          setImmediate: 'undefined',
          viaFunction: 'undefined',
        })
      })

      it('a dynamic require of a module outside the allow-list throws at run time', async () => {
        const plugin = await install({
          'index.js': `
            exports.jobs = {
              probe(input) {
                try { require(input.name); return 'loaded' } catch (e) { return e.message }
              },
            }
          `,
        })
        expect(await plugin.call('jobs.probe', { name: 'child_process' })).toBe(
          "Cannot import 'child_process': this module is not available to plugins",
        )
      })

      it('writing to globalThis or Object.prototype in a plugin does not reach the host', async () => {
        const plugin = await install({
          'index.js': `
            exports.jobs = {
              probe() {
                globalThis.sluiceConformanceLeak = 'leaked'
                Object.prototype.sluiceConformancePolluted = 'polluted'
                return 'done'
              },
            }
          `,
        })
        try {
          expect(await plugin.call('jobs.probe', {})).toBe('done')
          expect((globalThis as Record<string, unknown>).sluiceConformanceLeak).toBeUndefined()
          expect(({} as Record<string, unknown>).sluiceConformancePolluted).toBeUndefined()
        } finally {
          // Had the plugin reached the host, keep the leak from spreading to later tests.
          delete (globalThis as Record<string, unknown>).sluiceConformanceLeak
          delete (Object.prototype as Record<string, unknown>).sluiceConformancePolluted
        }
      })
    })

    // Sandboxes without call deadlines (in-process test doubles) cannot stop a runaway plugin.
    describe.runIf(capabilities.enforcesTimeouts)('call timeouts', () => {
      const runaway = {
        'index.ts': `
          export async function processEvent(e, { cache }) {
            if (e.event === 'hang') await new Promise(() => {})
            if (e.event === 'spin') for (;;) {}
            if (e.event === 'spin later') { await cache.get('anything', null); for (;;) {} }
            e.properties.ok = true
            return e
          }
        `,
      }
      const expectTimeout = (outcome: CallOutcome | undefined) =>
        expect(failed(outcome)).toMatchObject({ timeout: true, retry: true })

      /** Installs into a sandbox with the short call timeout. */
      const installShort = async (files: Record<string, string>) => {
        stack = await open({ callTimeoutMs: shortTimeoutMs })
        return install(files)
      }

      it('a call that awaits forever fails with a timeout (retryable)', async () => {
        const plugin = await installShort(runaway)
        expectTimeout(
          (
            await plugin.live.instance.callEach('processEvent', [
              { lane: 'a', args: [event({ event: 'hang' })] },
            ])
          )[0],
        )
        await expect(plugin.call('processEvent', event({ event: 'hang' }))).rejects.toMatchObject({
          failure: { timeout: true, retry: true },
        })
      })

      it('a synchronous infinite loop fails with a timeout, and the config keeps working', async () => {
        const plugin = await installShort(runaway)
        expectTimeout(
          (
            await plugin.live.instance.callEach('processEvent', [
              { lane: 'a', args: [event({ event: 'spin' })] },
            ])
          )[0],
        )
        expect(await plugin.call('processEvent', event())).toMatchObject({ properties: { ok: true } })
      })

      it('an infinite loop after an await fails with a timeout, and the config keeps working', async () => {
        const plugin = await installShort(runaway)
        expectTimeout(
          (
            await plugin.live.instance.callEach('processEvent', [
              { lane: 'a', args: [event({ event: 'spin later' })] },
            ])
          )[0],
        )
        expect(await plugin.call('processEvent', event())).toMatchObject({ properties: { ok: true } })
      })

      it('a runaway fails only its own call: the calls queued behind it in the batch still succeed', async () => {
        const plugin = await installShort(runaway)
        const outcomes = await plugin.live.instance.callEach('processEvent', [
          { lane: 'a', args: [event({ event: 'spin' })] },
          { lane: 'a', args: [event()] },
          { lane: 'b', args: [event()] },
        ])
        expectTimeout(outcomes[0])
        expect(outcomes.slice(1)).toMatchObject([
          { ok: true, value: { properties: { ok: true } } },
          { ok: true, value: { properties: { ok: true } } },
        ])
      })

      it('through the pipeline, a timed-out processEvent lets the event continue unchanged and records the failure', async () => {
        const plugin = await installShort(runaway)
        const hung = event({ event: 'hang' })
        const fine = event({ distinct_id: 'user-2' })
        await stack.run([hung, fine])
        expect(deliveredOf(hung.uuid).properties).toEqual({ path: '/', $plugins_failed: [plugin.tag] })
        expect(deliveredOf(fine.uuid).properties).toMatchObject({
          ok: true,
          $plugins_succeeded: [plugin.tag],
        })
        expect((await messages(plugin, 'system')).join('\n')).toMatch(/TimeoutError/)
      })

      it('an onEvent that times out is retried durably, as a timeout counts as a RetryError', async () => {
        const plugin = await installShort({
          'index.ts': `
            export async function onEvent(e, { cache }) {
              if ((await cache.incr('attempts')) === 1) await new Promise(() => {})
              await cache.set('done', true)
            }
          `,
        })
        await stack.run([event()])
        expect(await stack.services.jobQueue.count()).toBe(1)
        await stack.advance(5 * SECOND)
        await stack.runJobs()
        expect(await plugin.cached('done')).toBe('true')
      })
    })

    // Sandboxes without a heap bound (in-process test doubles) would take the test process down.
    describe.runIf(capabilities.enforcesMemoryLimit)('memory limit', () => {
      it('a call that exhausts its heap fails with a memory error; the plugin and its neighbours keep working', async () => {
        stack = await open({ memoryLimitMb: smallHeapMb })
        const hog = await install(
          {
            'index.js': `
              exports.processEvent = (event) => {
                if (event.event === 'hog') {
                  const hoard = []
                  for (;;) hoard.push(new Array(100000).fill(hoard.length))
                }
                event.properties.ok = true
                return event
              }
            `,
          },
          { name: 'hog' },
        )
        const neighbour = await install(
          { 'index.js': `exports.jobs = { probe: () => 'still here' }` },
          { name: 'neighbour' },
        )
        const [outcome] = await hog.live.instance.callEach('processEvent', [
          { lane: 'a', args: [event({ event: 'hog' })] },
        ])
        expect(failed(outcome).message).toMatch(/memory/i)
        expect(failed(outcome).timeout).toBe(false)
        expect(await hog.call('processEvent', event())).toMatchObject({ properties: { ok: true } })
        expect(await neighbour.call('jobs.probe', {})).toBe('still here')
      })
    })
  })
}
