// The isolation suite: hostile plugins try to reach the host, hurt it, or hurt other plugins.
//
// Every attack is a real plugin loaded into one shared sandbox, next to a well-behaved bystander
// plugin. Each test asserts what the attacker observed (or how its call failed); `afterEach` then
// checks that the host is unharmed: no unhandled rejection, uncaught exception or process warning,
// the host's builtins untouched, and the bystander still processing events correctly. Limits are
// small so runaways end fast; time bounds are generous because the machine is shared.
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import {
  type CallOutcome,
  type Fetch,
  FetchError,
  type LoadedPlugin,
  type PluginHost,
  type PluginInstance,
  type Sandbox,
  ValidationError,
} from '@sluice/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createStack, pluginSource, type StackOptions } from '../test/stack.js'
import { createBridge } from './bridge.js'
import { createIsolatedVmSandbox } from './sandbox.js'

// Generous enough that heavy attacks (a 100 MB string, stack traces of unbounded depth) finish
// failing on their own limit before the clock, even on two busy cores: CI once saw the 100 MB
// string hit a 1 s grace, and later a 3 s one, and unbounded recursion a 1 s call limit, before
// their own limits while other suites ran.
const CALL_TIMEOUT_MS = 2000
const WATCHDOG_GRACE_MS = 6000
const MEMORY_LIMIT_MB = 32
/** Anything that must end ends well within this, however loaded the machine. */
const ENDS_WITHIN_MS = 15_000

let sandbox: Sandbox
let stack: ReturnType<typeof createStack>
let bystander: PluginInstance
let nextPluginId = 100
const attackers: LoadedPlugin[] = []

// ---- the host's view ---------------------------------------------------------------------------

const incidents: string[] = []
const onUnhandledRejection = (reason: unknown) => incidents.push(`unhandledRejection: ${String(reason)}`)
const onUncaughtException = (error: unknown) => incidents.push(`uncaughtException: ${String(error)}`)
const onWarning = (warning: Error) => incidents.push(`warning: ${warning.name}: ${warning.message}`)

/** Every own property (value, getter and setter) of the host builtins a plugin might poison. */
function hostBuiltins(): Map<string, unknown> {
  const targets: Record<string, object> = {
    globalThis,
    Object,
    'Object.prototype': Object.prototype,
    'Array.prototype': Array.prototype,
    'Function.prototype': Function.prototype,
    'Promise.prototype': Promise.prototype,
    Promise,
    'String.prototype': String.prototype,
    'Error.prototype': Error.prototype,
    Error,
    'Map.prototype': Map.prototype,
    'Set.prototype': Set.prototype,
    JSON,
    Date,
    Reflect,
  }
  const found = new Map<string, unknown>()
  for (const [name, target] of Object.entries(targets)) {
    // Symbols on globalThis are the test runner's (undici adds some lazily); names are what plugins could touch.
    const keys = target === globalThis ? Object.getOwnPropertyNames(target) : Reflect.ownKeys(target)
    for (const key of keys) {
      const descriptor = Reflect.getOwnPropertyDescriptor(target, key)
      const path = `${name}.${String(key)}`
      if (descriptor && 'value' in descriptor) {
        const { value } = descriptor
        // Plain data on globalThis (the test runner keeps some there) may change; objects and functions may not.
        if (target === globalThis && (value === null || !['object', 'function'].includes(typeof value)))
          continue
        found.set(path, value)
      } else {
        found.set(`${path} (get)`, descriptor?.get)
        found.set(`${path} (set)`, descriptor?.set)
      }
    }
  }
  return found
}

let builtinsBefore: Map<string, unknown>

const NORMAL = { event: 'pageview', distinct_id: 'user-1', properties: { path: '/pricing' } }

const BYSTANDER = `
import { createHash } from 'crypto'
export async function processEvent(event, { cache, global }) {
  global.seen = (global.seen ?? 0) + 1
  const n = await cache.incr('events')
  const digest = createHash('sha256').update(event.event).digest('hex').slice(0, 12)
  return { ...event, properties: { ...event.properties, bystander: true, n, digest, seen: global.seen, process: typeof process } }
}`

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12)

/** The bystander processes two events in two lanes, correctly. */
async function expectBystanderWorks() {
  const other = { ...NORMAL, event: 'signup' }
  const outcomes = await bystander.callEach('processEvent', [
    { lane: 'user-1', args: [NORMAL] },
    { lane: 'user-2', args: [other] },
  ])
  const expected = (event: typeof NORMAL) => ({
    ok: true,
    value: {
      ...event,
      properties: {
        ...event.properties,
        bystander: true,
        n: expect.any(Number),
        digest: digest(event.event),
        seen: expect.any(Number),
        process: 'undefined',
      },
    },
  })
  expect(outcomes).toEqual([expected(NORMAL), expected(other)])
}

function expectHostBuiltinsUntouched() {
  const now = hostBuiltins()
  const changed = [...new Set([...builtinsBefore.keys(), ...now.keys()])].filter(
    (path) => !Object.is(builtinsBefore.get(path), now.get(path)),
  )
  expect(changed).toEqual([])
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(JSON.stringify({ a: [1, 'b'] })).toBe('{"a":[1,"b"]}')
  expect(typeof process.exit).toBe('function')
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandledRejection)
  process.on('uncaughtException', onUncaughtException)
  process.on('warning', onWarning)
  sandbox = createIsolatedVmSandbox({
    callTimeoutMs: CALL_TIMEOUT_MS,
    watchdogGraceMs: WATCHDOG_GRACE_MS,
    memoryLimitMb: MEMORY_LIMIT_MB,
  })
  stack = createStack()
  const loaded = await sandbox.load(pluginSource({ 'index.js': BYSTANDER }, { name: 'bystander' }))
  bystander = await loaded.instantiate(stack.hostFor(loaded, 'bystander'))
  builtinsBefore = hostBuiltins()
})

afterEach(async () => {
  for (const loaded of attackers.splice(0)) await loaded.dispose()
  expect(incidents.splice(0)).toEqual([])
  expectHostBuiltinsUntouched()
  await expectBystanderWorks()
})

afterAll(async () => {
  await sandbox.close()
  process.off('unhandledRejection', onUnhandledRejection)
  process.off('uncaughtException', onUncaughtException)
  process.off('warning', onWarning)
})

// ---- attackers ---------------------------------------------------------------------------------

/**
 * A plugin whose processEvent runs `attack` for events named 'attack' and tags any other event,
 * so a test can check it still works afterwards. CommonJS in sloppy mode: the most permissive
 * dialect, which allows `.caller` and friends.
 */
function hostile(attack: string): string {
  return `
const moduleThis = this
exports.processEvent = async function (event, meta) {
  if (event.event !== 'attack') return { ...event, properties: { ...event.properties, handledBy: 'attacker' } }
  ${attack}
}`
}

interface Attacker {
  instance: PluginInstance
  host: PluginHost & { configId: number }
  /** Another config of the same plugin, with its own context in the same isolate. */
  anotherConfig(options?: StackOptions): Promise<PluginInstance>
}

async function loadAttacker(code: string, options: StackOptions = {}): Promise<Attacker> {
  const pluginId = nextPluginId++
  const name = `attacker-${pluginId}`
  const loaded = await sandbox.load(pluginSource({ 'index.js': code }, { pluginId, name }))
  attackers.push(loaded)
  const host = stack.hostFor(loaded, name, { ...options, pluginId })
  return {
    host,
    instance: await loaded.instantiate(host),
    anotherConfig: (other = {}) => loaded.instantiate(stack.hostFor(loaded, name, { ...other, pluginId })),
  }
}

const ATTACK = { event: 'attack', distinct_id: 'attacker', properties: {} }

async function attack(instance: PluginInstance): Promise<CallOutcome> {
  const [outcome] = await instance.callEach('processEvent', [{ lane: 'attack', args: [ATTACK] }])
  if (!outcome) throw new Error('no outcome')
  return outcome
}

/** Runs the attack and returns what the plugin observed (its return value). */
async function observe(code: string, options: StackOptions = {}): Promise<unknown> {
  const { instance } = await loadAttacker(hostile(code), options)
  const outcome = await attack(instance)
  if (!outcome.ok) throw new Error(`the attack failed: ${outcome.failure.name}: ${outcome.failure.message}`)
  return outcome.value
}

/** The attacker's next ordinary event is processed correctly. */
async function expectWorksAgain(instance: PluginInstance) {
  expect(await instance.callEach('processEvent', [{ lane: 'next', args: [NORMAL] }])).toEqual([
    { ok: true, value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } } },
  ])
}

/** The call's own deadline failed it: the isolate was interrupted, not disposed by the watchdog. */
const timeoutFailure = {
  ok: false,
  failure: expect.objectContaining({
    name: 'TimeoutError',
    message: `processEvent did not finish within ${CALL_TIMEOUT_MS} ms`,
    retry: true,
    timeout: true,
  }),
}

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now()
  const result = await work
  return { result, ms: performance.now() - start }
}

async function loadFails(code: string): Promise<ValidationError> {
  const error = await sandbox.load(pluginSource({ 'index.js': code }, { pluginId: nextPluginId++ })).then(
    (loaded) => {
      attackers.push(loaded)
      throw new Error('the plugin loaded')
    },
    (error: unknown) => error,
  )
  expect(error).toBeInstanceOf(ValidationError)
  return error as ValidationError
}

// ---- the attacks -------------------------------------------------------------------------------

describe('reaching Node and the host realm', () => {
  it.each([
    ['process', 'typeof process'],
    ['require on the global object', 'typeof globalThis.require'],
    ['global', 'typeof global'],
    ['module.require', 'typeof module.require'],
    ["Node's Module._load through module.constructor", 'typeof module.constructor._load'],
    ['require.cache', 'typeof require.cache'],
    ['require.resolve', 'typeof require.resolve'],
    ['setTimeout', 'typeof setTimeout'],
    ['setInterval', 'typeof setInterval'],
    ['setImmediate', 'typeof setImmediate'],
    ['WebAssembly', 'typeof WebAssembly'],
    ['SharedArrayBuffer', 'typeof SharedArrayBuffer'],
    ['Atomics', 'typeof Atomics'],
    ["Node's Buffer.allocUnsafe", 'typeof Buffer.allocUnsafe'],
    ['process through eval', "eval('typeof process')"],
    ['WebAssembly through indirect eval', "(0, eval)('typeof this.WebAssembly')"],
    ["process on Function('return this')()", "typeof Function('return this')().process"],
  ])('reaching for %s finds nothing: %s is "undefined"', async (_what, expression) => {
    expect(await observe(`return ${expression}`)).toBe('undefined')
  })

  it('the global object holds only ECMAScript builtins and the documented sandbox globals', async () => {
    const names = (await observe('return Object.getOwnPropertyNames(globalThis)')) as string[]
    // ECMAScript as V8 ships it; a new V8 builtin fails this test on purpose, to be looked at.
    const ecmascript = [
      ...['AggregateError', 'Array', 'ArrayBuffer', 'AsyncDisposableStack', 'BigInt', 'BigInt64Array'],
      ...['BigUint64Array', 'Boolean', 'DataView', 'Date', 'DisposableStack', 'Error', 'EvalError'],
      ...['FinalizationRegistry', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Infinity'],
      ...['Int16Array', 'Int32Array', 'Int8Array', 'Intl', 'Iterator', 'JSON', 'Map', 'Math', 'NaN'],
      ...['Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'Reflect', 'RegExp'],
      ...['Set', 'String', 'SuppressedError', 'Symbol', 'SyntaxError', 'TypeError', 'URIError'],
      ...['Uint16Array', 'Uint32Array', 'Uint8Array', 'Uint8ClampedArray', 'WeakMap', 'WeakRef', 'WeakSet'],
      ...['decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'eval'],
      ...['globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'undefined', 'unescape'],
    ]
    const sandboxGlobals = [
      ...['console', 'fetch', 'posthog', 'RetryError', 'URL', 'URLSearchParams', 'TextEncoder'],
      ...['TextDecoder', 'Headers', 'Response', 'atob', 'btoa', 'Buffer'],
    ]
    expect(names.filter((name) => !ecmascript.includes(name) && !sandboxGlobals.includes(name))).toEqual([])
  })

  it('nothing reachable from the global object is a host function or a bridge', async () => {
    const found = (await observe(`
      // isolated-vm's classes, the bridge, and the functions the host calls in the runtime.
      const hostNames = ['ivm', 'Reference', 'Callback', 'ExternalCopy', 'Isolate', 'Context', 'Script', 'bridge', 'deliver', 'define', 'boot', 'run', 'start', 'settle', 'expire', 'collect']
      const seen = new Set()
      const queue = [globalThis]
      const suspicious = []
      const constructors = new Set()
      while (queue.length > 0) {
        const value = queue.pop()
        if (value === null || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) continue
        seen.add(value)
        if (typeof value === 'function' && typeof value.constructor === 'function' && /Function$/.test(value.constructor.name)) {
          constructors.add(value.constructor)
        }
        for (const key of Reflect.ownKeys(value)) {
          if (hostNames.includes(String(key))) suspicious.push(String(key))
          const descriptor = Reflect.getOwnPropertyDescriptor(value, key)
          if ('value' in descriptor) queue.push(descriptor.value)
          else queue.push(descriptor.get, descriptor.set)
        }
        queue.push(Reflect.getPrototypeOf(value))
      }
      const probes = []
      for (const F of constructors) {
        let result = F('return typeof process')()
        if (result && typeof result.next === 'function') result = result.next().value
        probes.push(F.name + ': ' + (await result))
      }
      return { visited: seen.size, suspicious, probes: probes.sort() }
    `)) as { visited: number; suspicious: string[]; probes: string[] }
    expect(found.visited).toBeGreaterThan(500)
    expect(found.suspicious).toEqual([])
    // One constructor per kind of function, all of this realm: a host function would bring a second `Function`.
    expect(found.probes).toEqual(['AsyncFunction: undefined', 'Function: undefined'])
  })

  // Each import is used: the TypeScript transform drops imports nothing uses, so they never load.
  it.each([
    [
      'a static import of fs',
      "import fs from 'fs'; export const read = () => fs.readFileSync('/etc/passwd')",
      'fs',
    ],
    ['a require of child_process', "const cp = require('child_process')", 'child_process'],
    ['a require of node:fs', "require('node:fs')", 'node:fs'],
    ['a re-export of fs', "export * from 'fs'", 'fs'],
    ['an import() of fs', "export const load = () => import('fs')", 'fs'],
    [
      'an import of worker_threads',
      "import { Worker } from 'worker_threads'; export const spawn = () => new Worker('x')",
      'worker_threads',
    ],
  ])('%s fails the load, naming the file and line', async (_what, line, specifier) => {
    const error = await loadFails(`// line 1\n${line}\nexport function processEvent(event) { return event }`)
    expect(error.problems).toContainEqual({
      field: 'index.js:2',
      message: `Cannot import '${specifier}': this module is not available to plugins`,
    })
  })

  it('a relative import climbing out of the plugin fails the load', async () => {
    const error = await loadFails("const secrets = require('../../../../etc/passwd')")
    expect(error.problems).toContainEqual({
      field: 'index.js:1',
      message: "Cannot import '../../../../etc/passwd': no such file in the plugin",
    })
  })

  it('a require computed at run time throws inside the plugin', async () => {
    const observed = await observe(`
      const out = {}
      const tries = {
        computed: () => require('f' + 's'),
        joined: () => require(['child', 'process'].join('_')),
        aliased: () => { const r = require; return r('node:fs') },
        called: () => require.call(null, 'worker_threads'),
        traversal: () => require('crypto/' + '../fs'),
        prototypeKey: () => require(['__proto__'][0]),
        builtinsKey: () => require(String('constructor')),
      }
      for (const name of Object.keys(tries)) {
        try { out[name] = 'loaded ' + typeof tries[name]() } catch (error) { out[name] = error.message }
      }
      const specifier = 'child_' + 'process'
      out.computedImport = await import(specifier).then(() => 'loaded', (error) => error.message)
      return out
    `)
    const refused = (specifier: string) =>
      `Cannot import '${specifier}': this module is not available to plugins`
    expect(observed).toEqual({
      computed: refused('fs'),
      joined: refused('child_process'),
      aliased: refused('node:fs'),
      called: refused('worker_threads'),
      traversal: refused('crypto/../fs'),
      prototypeKey: refused('__proto__'),
      builtinsKey: refused('constructor'),
      computedImport: refused('child_process'),
    })
  })

  it('a dynamic import hidden in eval or new Function is rejected', async () => {
    const observed = await observe(`
      const settle = (promise) => promise.then((module) => 'loaded ' + Object.keys(module), (error) => 'rejected: ' + error.message)
      return {
        eval: await settle(eval('import("fs")')),
        function: await settle(new Function('return import("node:child_process")')()),
      }
    `)
    expect(observed).toEqual({ eval: 'rejected: Not supported', function: 'rejected: Not supported' })
  })

  it.each([
    ['this at module scope', 'moduleThis.constructor.constructor'],
    ['this inside the call', 'this.constructor.constructor'],
    ['the meta object', 'meta.constructor.constructor'],
    ['a meta.cache method', 'meta.cache.get.constructor'],
    ['a promise a host call returned', "meta.cache.get('k').constructor.constructor"],
    [
      'a value the host returned',
      "(await meta.cache.get('missing', { some: 'default' })).constructor.constructor",
    ],
    [
      'an error the host reported',
      "(await meta.cache.set('k', undefined).catch((error) => error)).constructor.constructor",
    ],
    [
      'an error a synchronous host call threw',
      "(() => { try { new URL('::') } catch (error) { return error } })().constructor.constructor",
    ],
    ['the event the host passed', 'event.constructor.constructor'],
    ['meta.config from the host', 'meta.config.constructor.constructor'],
    ['console.log', 'console.log.constructor'],
    ['posthog.capture', 'posthog.capture.constructor'],
    ['a crypto function', "require('crypto').createHash.constructor"],
    ['a Buffer', "Buffer.from('x').constructor.constructor"],
    ['the async function constructor', 'Object.getPrototypeOf(async function () {}).constructor'],
    ['the generator function constructor', 'Object.getPrototypeOf(function* () {}).constructor'],
  ])(
    'a constructor chain through %s builds functions of the sandbox realm only',
    async (_what, expression) => {
      const observed = await observe(`
      const F = ${expression}
      let result = F('return typeof process + " " + typeof require')()
      if (result && typeof result.next === 'function') result = result.next().value
      return await result
    `)
      expect(observed).toBe('undefined undefined')
    },
  )

  it('stack frames (Error.prepareStackTrace) expose only sandbox functions and this-values', async () => {
    const observed = (await observe(`
      if (globalThis.entered) return 'entered again'
      globalThis.entered = true
      const files = new Set()
      const probes = new Set()
      const runtimeFunctions = new Set()
      const capture = () => {
        const previous = Error.prepareStackTrace
        Error.prepareStackTrace = (_error, frames) => frames
        const frames = new Error().stack
        Error.prepareStackTrace = previous
        for (const frame of frames) {
          files.add(String(frame.getFileName()))
          for (const value of [frame.getThis(), frame.getFunction()]) {
            if (value === null || value === undefined) continue
            if (typeof value === 'function' && frame.getFileName() === 'sluice:runtime') runtimeFunctions.add(value)
            try { probes.add(value.constructor.constructor('return typeof process')()) } catch (error) { probes.add(error.name) }
          }
        }
      }
      capture()
      console.log({ toJSON() { capture(); return 'logged' } })
      await meta.cache.get('k').then(() => capture())
      await new Promise((resolve) => require('zlib').gzip('data', () => { capture(); resolve() }))
      // The runtime is strict code, so its frames hide their functions; any that leaked could only
      // be called with garbage, reaching nothing beyond the plugin's own context.
      const names = []
      for (const fn of [...runtimeFunctions]) {
        let result
        try { result = await fn('{ not json', -1, null) } catch (error) { result = error.name }
        names.push((fn.name || 'anonymous') + ' -> ' + (typeof result === 'string' ? result.slice(0, 40) : typeof result))
      }
      return { files: [...files].sort(), probes: [...probes], runtimeFunctions: names }
    `)) as { files: string[]; probes: string[]; runtimeFunctions: string[] }
    expect(
      observed.files.filter((file) => !['index.js', 'sluice:runtime', 'null', 'undefined'].includes(file)),
    ).toEqual([])
    expect(observed.probes).toEqual(['undefined'])
    expect(observed.runtimeFunctions).toEqual([])
  })

  it('walking .caller up from a sloppy-mode function reaches no host function', async () => {
    const { instance } = await loadAttacker(`
      exports.processEvent = function processEvent(event, meta) {
        const found = []
        let fn = processEvent
        for (let depth = 0; depth < 50; depth++) {
          let next
          try { next = fn.caller } catch (error) { found.push('stopped by ' + error.name); break }
          if (!next) { found.push('top'); break }
          found.push(next.constructor('return typeof process')())
          fn = next
        }
        return found
      }`)
    const outcome = await attack(instance)
    expect(outcome.ok).toBe(true)
    const found = (outcome as { value: string[] }).value
    expect(found.at(-1)).toMatch(/^(stopped by TypeError|top)$/)
    expect(found.slice(0, -1).every((seen) => seen === 'undefined')).toBe(true)
  })
})

describe('prototype poisoning', () => {
  it.each([
    [
      'Object.prototype gains properties',
      'Object.prototype.polluted = true; Object.prototype.then = undefined',
      true,
    ],
    [
      'Object.prototype.toJSON rewrites every serialisation',
      "Object.prototype.toJSON = function () { return 'pwned' }",
      false,
    ],
    [
      'Array.prototype methods throw',
      "for (const name of ['push', 'map', 'forEach', 'join', 'filter', 'slice']) Array.prototype[name] = function () { throw new Error('poisoned ' + name) }",
      false,
    ],
    [
      'JSON.stringify and JSON.parse forge data',
      `JSON.stringify = () => '{"forged":true}'; JSON.parse = () => ({ forged: true })`,
      true,
    ],
    [
      'Promise.prototype.then never calls back',
      'Promise.prototype.then = function () { return this }',
      false,
    ],
    [
      'Function.prototype.call, apply and bind throw',
      "for (const name of ['call', 'apply', 'bind']) Function.prototype[name] = function () { throw new Error('poisoned ' + name) }",
      true,
    ],
    [
      'String.prototype methods lie',
      "String.prototype.slice = () => 'sliced'; String.prototype.toLowerCase = () => 'lower'",
      false,
    ],
    [
      'the sandbox globals are replaced',
      "globalThis.console = { log() {} }; globalThis.fetch = async () => 'forged'; globalThis.Buffer = null",
      true,
    ],
  ])(
    '%s: the host, other configs of the plugin and other plugins are unaffected',
    async (_what, poison, runtimeIntact) => {
      const attacker = await loadAttacker(
        hostile(`${poison}\nreturn { event: 'attack', properties: { poisoned: true } }`),
      )
      const outcome = await attack(attacker.instance)
      if (outcome.ok) {
        if (typeof outcome.value === 'object' && outcome.value !== null) {
          expect(Object.getPrototypeOf(outcome.value)).toBe(Object.prototype)
        }
      } else {
        expect(outcome.failure.name).toMatch(/Error$/)
      }
      if (runtimeIntact) {
        // The runtime keeps its own copies of what it needs: the results still cross intact.
        expect(outcome).toEqual({ ok: true, value: { event: 'attack', properties: { poisoned: true } } })
        await expectWorksAgain(attacker.instance)
      }
      // Another config of the same plugin runs in a fresh context of the same isolate.
      await expectWorksAgain(await attacker.anotherConfig())
    },
  )

  it('a returned __proto__ key stays data on the host and pollutes nothing', async () => {
    const { instance } = await loadAttacker(
      hostile(
        `return JSON.parse('{"event":"x","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}')`,
      ),
    )
    const outcome = await attack(instance)
    expect(outcome.ok).toBe(true)
    const value = (outcome as { value: Record<string, unknown> }).value
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(value.polluted).toBeUndefined()
    expect(Object.hasOwn(value, '__proto__')).toBe(true)
    expect({ ...value }.polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('redefining meta members affects only the attacking config', async () => {
    const attacker = await loadAttacker(
      `exports.processEvent = async function (event, meta) {
        if (event.event === 'attack') {
          const report = {}
          const attempt = (name, change) => { try { change(); report[name] = 'done' } catch (error) { report[name] = error.name } }
          attempt('cache.get', () => { meta.cache.get = async () => 'hijacked' })
          attempt('Object.prototype.get', () => { Object.getPrototypeOf(meta.cache).get = async () => 'hijacked' })
          attempt('storage', () => { meta.storage = { get: async () => 'hijacked' } })
          attempt('config', () => { meta.config.token = 'stolen' })
          attempt('global', () => { meta.global.shared = 'planted' })
          attempt('jobs', () => { meta.jobs.planted = () => 'hijacked' })
          attempt('posthog.capture', () => { posthog.capture = async () => 'hijacked' })
          attempt('globalThis.posthog', () => { globalThis.posthog = { capture: async () => 'hijacked' } })
          return report
        }
        return {
          token: meta.config.token,
          global: meta.global,
          cached: await meta.cache.get('probe', 'default'),
          stored: await meta.storage.get('probe', 'none'),
          captured: await posthog.capture('inspected', { distinct_id: meta.config.token }),
        }
      }`,
      { config: { token: 'attacker-token' } },
    )
    const victim = await attacker.anotherConfig({ config: { token: 'victim-token' } })
    expect(await attack(attacker.instance)).toEqual({
      ok: true,
      value: {
        'cache.get': 'done',
        'Object.prototype.get': 'done',
        storage: 'done',
        config: 'done',
        global: 'done',
        jobs: 'done',
        'posthog.capture': 'done',
        'globalThis.posthog': 'done',
      },
    })
    const inspect = async (instance: PluginInstance) => {
      const [outcome] = await instance.callEach('processEvent', [{ lane: 'inspect', args: [NORMAL] }])
      return outcome
    }
    // The attacker changed its own view (meta and its members are its own; the API objects are frozen)...
    expect(await inspect(attacker.instance)).toEqual({
      ok: true,
      value: {
        token: 'stolen',
        global: { shared: 'planted' },
        cached: 'default',
        stored: 'hijacked',
        captured: 'hijacked',
      },
    })
    // ...and nothing of the victim's, though it runs the same code in the same isolate.
    stack.captured.length = 0
    expect(await inspect(victim)).toEqual({
      ok: true,
      value: { token: 'victim-token', global: {}, cached: 'default', stored: 'none' },
    })
    expect(stack.captured.map(({ event, properties }) => [event, properties.distinct_id])).toEqual([
      ['inspected', 'victim-token'],
    ])
  })
})

describe('smuggling through meta calls and return values', () => {
  it('a cache.set value with a throwing getter fails inside the plugin and stores nothing', async () => {
    const observed = await observe(`
      const error = await meta.cache.set('trap', { get boom() { throw new Error('getter says no') } }).catch((error) => error)
      return { error: error.name + ': ' + error.message, stored: await meta.cache.get('trap', 'nothing') }
    `)
    expect(observed).toEqual({ error: 'Error: getter says no', stored: 'nothing' })
  })

  it('a cache.set value with a getter that never returns times out; the next call works', async () => {
    const { instance } = await loadAttacker(
      hostile(`await meta.cache.set('trap', { get loop() { for (;;) {} } })`),
    )
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual(timeoutFailure)
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it('a Proxy as the captured event: throwing traps fail inside the plugin, nothing is captured', async () => {
    stack.captured.length = 0
    const observed = await observe(`
      const trap = () => { throw new Error('trap sprung') }
      const hostile = new Proxy({}, { get: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, has: trap })
      const results = []
      for (const args of [[hostile], ['event', hostile]]) {
        results.push(await posthog.capture(...args).then(() => 'captured', (error) => error.message))
      }
      return results
    `)
    expect(observed).toEqual(['trap sprung', 'trap sprung'])
    expect(stack.captured).toEqual([])
  })

  it('a lying Proxy returned as the event reaches the host as plain data', async () => {
    const { instance } = await loadAttacker(
      hostile(`return new Proxy({}, {
        ownKeys: () => ['event', 'team_id'],
        getOwnPropertyDescriptor: () => ({ value: 'lie', enumerable: true, configurable: true }),
        get: (_target, key) => (key === 'toJSON' ? undefined : 'lie'),
      })`),
    )
    const outcome = await attack(instance)
    expect(outcome).toEqual({ ok: true, value: { event: 'lie', team_id: 'lie' } })
    expect(Object.getPrototypeOf((outcome as { value: object }).value)).toBe(Object.prototype)
  })

  it('symbols smuggled into cache calls are dropped on the way to the host', async () => {
    const observed = await observe(`
      await meta.cache.set('symbols', { [Symbol('hidden')]: 'secret', visible: 1, value: Symbol('v') })
      await meta.cache.set(Symbol('key'), 'under a symbol')
      return { back: await meta.cache.get('symbols'), underNull: await meta.cache.get('null') }
    `)
    // JSON drops symbol keys and values; a symbol argument crosses as null, so the key is 'null'.
    expect(observed).toEqual({ back: { visible: 1 }, underNull: 'under a symbol' })
  })

  it.each([
    [
      'a toJSON that throws',
      "return { toJSON() { throw new Error('toJSON says no') } }",
      { name: 'Error', message: 'toJSON says no' },
    ],
    [
      'a BigInt',
      'return { n: 10n }',
      { name: 'TypeError', message: 'Do not know how to serialize a BigInt' },
    ],
    [
      'a circular object',
      'const o = {}; o.self = o; return o',
      { name: 'TypeError', message: expect.stringContaining('circular') },
    ],
    [
      'a toJSON returning 2 MB',
      "return { toJSON: () => 'x'.repeat(2 * 1024 * 1024) }",
      { name: 'OutputLimitError', message: expect.stringContaining('over the 1048576 limit') },
    ],
    [
      'a thenable whose then throws',
      "return { then() { throw new Error('then says no') } }",
      { name: 'Error', message: 'then says no' },
    ],
  ])('returning %s fails that call with a described error', async (_what, code, failure) => {
    const { instance } = await loadAttacker(hostile(code))
    expect(await attack(instance)).toEqual({ ok: false, failure: expect.objectContaining(failure) })
    await expectWorksAgain(instance)
  })

  it.each([
    ['a getter that never returns', 'return { get loop() { for (;;) {} } }'],
    ['a thenable that never settles', 'return { then() {} }'],
  ])('returning %s times out; the next call works', async (_what, code) => {
    const { instance } = await loadAttacker(hostile(code))
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual(timeoutFailure)
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it.each([
    ['a symbol', "return Symbol('s')"],
    ['a function', 'return () => process'],
  ])('returning %s gives the host undefined', async (_what, code) => {
    const { instance } = await loadAttacker(hostile(code))
    expect(await attack(instance)).toEqual({ ok: true, value: undefined })
  })
})

describe('the bridge and host calls', () => {
  it('garbage handed straight to the bridge gets error replies and leaves the host unharmed', async () => {
    const loaded = await sandbox.load(pluginSource({ 'index.js': hostile('') }, { pluginId: nextPluginId++ }))
    attackers.push(loaded)
    const host = stack.hostFor(loaded, 'bridge-target')
    const delivered: string[] = []
    const bridge = createBridge(host, (_id, reply) => delivered.push(reply), {
      maxRequestChars: 1024,
      maxPendingCalls: 10,
      maxZlibOutputBytes: 1024,
      maxLogChars: 100,
      maxLogCharsPerSecond: 10_000,
    })
    const huge = JSON.stringify({ args: ['x'.repeat(2000)] })
    const garbage: Array<[unknown, unknown, unknown]> = [
      [undefined, undefined, undefined],
      [{}, 0, '{}'],
      [Symbol('op'), 0, '{"args":[]}'],
      ['log', 0, 'not json'],
      ['log', 0, '{"args":"not an array"}'],
      ['log', 0, '{"args":["log",{"toString":1}],"undefinedAt":[1e9,-1,"x",null]}'],
      ['__proto__', 0, '{"args":[]}'],
      ['constructor', 0, '{"args":[]}'],
      ['toString', 1, '{"args":[]}'],
      ['hasOwnProperty', 1, '{"args":["x"]}'],
      ['cache.get', -1, '{"args":["k"]}'],
      ['cache.get', 1.5, '{"args":["k"]}'],
      ['cache.get', 2 ** 60, '{"args":["k"]}'],
      ['cache.set', 1, huge],
      ['crypto.randomBytes', 0, '{"args":[1e12]}'],
      ['crypto.hash', 0, '{"args":["../../etc/passwd","aGk="]}'],
      ['zlib', 0, '{"args":["gunzip","!!!"]}'],
      ['zlib', 0, '{"args":["constructor","aGk="]}'],
      ['url.set', 0, '{"args":["http://x/","__proto__","y"]}'],
      ['url.parse', 0, '{"args":[{"href":"file:///etc/passwd"}]}'],
      ['metrics.update', 0, '{"args":["x","__proto__",1]}'],
      ['fetch', 2, '{"args":[{"url":"file:///etc/passwd"}]}'],
      ['jobs.enqueue', 3, '{"args":["x",null,{"kind":"never"}]}'],
      ['posthog.api', 4, '{"args":["PATCH","/x"]}'],
      ['storage.set', 5, '{"args":[{"toString":null},1]}'],
    ]
    const replies = garbage.map(([op, id, request]) => bridge(op, id, request))
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const reply of [...replies, ...delivered]) {
      if (reply === undefined) continue
      const parsed = JSON.parse(reply) as { ok: boolean; error?: { name: string; message: string } }
      expect(
        parsed.ok === true ||
          (typeof parsed.error?.name === 'string' && typeof parsed.error.message === 'string'),
      ).toBe(true)
    }
    expect(
      replies.filter((reply) => reply !== undefined && JSON.parse(reply).ok === false).length,
    ).toBeGreaterThan(15)
    expect(delivered.filter((reply) => JSON.parse(reply).ok === false).length).toBeGreaterThan(3)
  })

  it('a flood of host calls is cut at the in-flight limit; the refused calls fail inside the plugin', async () => {
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const fetch: Fetch = {
      async request() {
        await held
        return { status: 200, statusText: 'OK', headers: {}, body: new Uint8Array() }
      },
    }
    const observed = await observe(
      `
      const calls = []
      for (let i = 0; i < 1500; i++) calls.push(fetch('https://example.com/' + i).then(() => 'fetched', (error) => error.message))
      // The first 1000 are held by the host; the rest are refused at once.
      const refused = await Promise.all(calls.slice(1000))
      return [...new Set(refused.map((message) => message.replace(/example.com.[0-9]+/, 'example.com/N')))]
    `,
      { fetch },
    )
    release()
    expect(observed).toEqual([
      'request to https://example.com/N failed, reason: more than 1000 host calls in flight; await them before starting more',
    ])
  })

  it('a zip bomb stops at the zlib output limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)).toString('base64')
    const observed = await observe(`
      try {
        return 'inflated ' + require('zlib').gunzipSync(Buffer.from(${JSON.stringify(bomb)}, 'base64')).length
      } catch (error) {
        return error.name + ': ' + error.message
      }
    `)
    expect(observed).toBe('RangeError: zlib output is over the 33554432-byte limit')
  })

  it('an oversized host request is refused before the host acts on it', async () => {
    const observed = await observe(`
      const megabyte = 'x'.repeat(1 << 20)
      const error = await meta.cache.set('big', new Array(17).fill(megabyte)).catch((error) => error)
      return { error: error.name + ': ' + error.message, stored: await meta.cache.get('big', 'nothing') }
    `)
    expect(observed).toEqual({
      error: 'RangeError: cache.set request is over the 16777216-character limit',
      stored: 'nothing',
    })
  })
})

describe('memory', () => {
  it.each([
    ['an ever-growing array of arrays', 'const hoard = []; for (;;) hoard.push(new Array(1e5).fill(1.5))'],
    ['a 100 MB string returned', "return 'x'.repeat(100 * 1024 * 1024)"],
    [
      'a memory bomb after a host reply',
      "await meta.cache.get('k'); const hoard = []; for (;;) hoard.push(new Array(1e5).fill(1.5))",
    ],
  ])(
    '%s disposes only the attacker’s isolate (MemoryLimitError); it is rebuilt for the next call',
    async (_what, code) => {
      const attacker = await loadAttacker(hostile(code))
      const other = await attacker.anotherConfig()
      const { result, ms } = await timed(attack(attacker.instance))
      expect(result).toEqual({
        ok: false,
        failure: expect.objectContaining({
          name: 'MemoryLimitError',
          message: `the plugin went over its ${MEMORY_LIMIT_MB} MB memory limit; its sandbox was disposed and will be rebuilt`,
          retry: false,
        }),
      })
      expect(ms).toBeLessThan(ENDS_WITHIN_MS)
      await expectWorksAgain(attacker.instance)
      // The attacker's other config lived in the same isolate; it gets a context in the new one.
      await expectWorksAgain(other)
    },
  )

  it('a string doubled without end stops at V8’s string length limit, inside the plugin', async () => {
    const { instance } = await loadAttacker(hostile(`let s = 'x'; for (;;) s += s`))
    expect(await attack(instance)).toEqual({
      ok: false,
      failure: expect.objectContaining({ name: 'RangeError', message: 'Invalid string length' }),
    })
    await expectWorksAgain(instance)
  })

  it('huge ArrayBuffers are refused by the isolate’s allocator', async () => {
    const observed = await observe(`
      const attempt = (allocate) => { try { return 'allocated ' + allocate().byteLength } catch (error) { return error.name + ': ' + error.message } }
      return [
        attempt(() => new Uint8Array(1e9)),
        attempt(() => { const hoard = []; for (;;) hoard.push(new Float64Array(1e6)) }),
      ]
    `)
    expect(observed).toEqual([
      'RangeError: Array buffer allocation failed',
      'RangeError: Array buffer allocation failed',
    ])
  })

  it('a 2 MB result is over the output limit', async () => {
    const { instance } = await loadAttacker(hostile(`return 'x'.repeat(2 * 1024 * 1024)`))
    expect(await attack(instance)).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'OutputLimitError',
        message: 'processEvent returned 2097154 characters of JSON, over the 1048576 limit',
      }),
    })
  })

  it('a runtime tricked into handing the host 4 MB of garbage is stopped by the host’s own output check', async () => {
    const attacker = await loadAttacker(
      hostile(`Array.prototype.join = function () { return 'z'.repeat(4 * 1024 * 1024) }; return 'small'`),
    )
    expect(await attack(attacker.instance)).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'OutputLimitError',
        message: 'the batch result is over the output limit',
      }),
    })
    await expectWorksAgain(await attacker.anotherConfig())
  })
})

describe('recursion', () => {
  it('infinite recursion the plugin catches is an ordinary RangeError; the next call works', async () => {
    const { instance } = await loadAttacker(
      hostile(
        `const dive = () => dive(); try { dive() } catch (error) { return error.name + ': ' + error.message }`,
      ),
    )
    expect(await attack(instance)).toEqual({
      ok: true,
      value: 'RangeError: Maximum call stack size exceeded',
    })
    await expectWorksAgain(instance)
  })

  it('uncaught recursion with an unbounded stack trace fails only its call, with the stack cut down', async () => {
    const { instance } = await loadAttacker(
      hostile(`Error.stackTraceLimit = Infinity; const dive = (depth) => dive(depth + 1); dive(0)`),
    )
    const [failed, neighbour] = await instance.callEach('processEvent', [
      { lane: 'attack', args: [ATTACK] },
      { lane: 'other', args: [NORMAL] },
    ])
    expect(failed).toEqual({
      ok: false,
      failure: expect.objectContaining({ name: 'RangeError', message: 'Maximum call stack size exceeded' }),
    })
    expect((failed as { failure: { stack: string } }).failure.stack.length).toBeLessThanOrEqual(16 * 1024)
    expect(neighbour).toEqual({
      ok: true,
      value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } },
    })
  })
})

describe('time', () => {
  it('a call that never settles fails with a TimeoutError; the next call works', async () => {
    const { instance } = await loadAttacker(hostile('await new Promise(() => {})'))
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'TimeoutError',
        message: `processEvent did not finish within ${CALL_TIMEOUT_MS} ms`,
        retry: true,
        timeout: true,
      }),
    })
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it('a synchronous infinite loop is interrupted; the other lanes of the batch still get their results', async () => {
    const { instance } = await loadAttacker(hostile('for (;;) {}'))
    const done = {
      ok: true,
      value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } },
    }
    // The runaway comes first, so no other call is in flight when it blocks the isolate's thread
    // (one that is, awaiting, passes its own deadline while it waits and times out too).
    const { result, ms } = await timed(
      instance.callEach('processEvent', [
        { lane: 'b', args: [ATTACK] },
        { lane: 'a', args: [NORMAL] },
        { lane: 'c', args: [NORMAL] },
        { lane: 'a', args: [NORMAL] },
      ]),
    )
    expect(result).toEqual([timeoutFailure, done, done, done])
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it.each([
    ['after an await', 'await null; for (;;) {}'],
    ['after a host reply', "await meta.cache.get('k'); for (;;) {}"],
    [
      'inside a crypto callback',
      "await new Promise(() => require('crypto').randomBytes(8, () => { for (;;) {} }))",
    ],
  ])('an infinite loop %s is interrupted; the next call works', async (_when, code) => {
    const { instance } = await loadAttacker(hostile(code))
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual(timeoutFailure)
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it('overriding Date inside the plugin does not move its deadline', async () => {
    const { instance } = await loadAttacker(
      hostile(`
      Date.now = () => 0
      Date.prototype.getTime = () => 0
      globalThis.Date = class { static now() { return Number.MAX_SAFE_INTEGER } }
      await new Promise(() => {})
    `),
    )
    const { result, ms } = await timed(attack(instance))
    // Still the plugin-side deadline (not the watchdog): the runtime keeps its own clock.
    expect(result).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'TimeoutError',
        message: `processEvent did not finish within ${CALL_TIMEOUT_MS} ms`,
      }),
    })
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
  })

  it('poisoned deadline machinery cannot hold the host: the watchdog disposes the isolate, no host timer misbehaves', async () => {
    // The runtime keeps pending calls in a Set and races them with Promise.race; a forged timer
    // with an Infinity deadline once made the host schedule 1 ms timers (TimeoutOverflowWarning).
    const { instance } = await loadAttacker(
      hostile(`
      Set.prototype[Symbol.iterator] = function () { return [{ deadline: Infinity }][Symbol.iterator]() }
      Promise.race = (promises) => promises[0]
      await new Promise(() => {})
    `),
    )
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'TimeoutError',
        message: `the plugin stopped responding for over ${CALL_TIMEOUT_MS + WATCHDOG_GRACE_MS} ms; its sandbox was disposed and will be rebuilt`,
        timeout: true,
      }),
    })
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it('a forged progress report after an interrupt cannot make the host throw', async () => {
    // After interrupting a runaway the host asks the runtime which calls had finished; a poisoned
    // Map.prototype.get rewrote that report and once made callEach reject with a host TypeError.
    const { instance } = await loadAttacker(
      hostile(`
      if (globalThis.forged) return 'second run'
      globalThis.forged = true
      const get = Map.prototype.get
      Map.prototype.get = function (key) {
        const real = get.call(this, key)
        if (!real || typeof real.abandoned !== 'boolean') return real
        Map.prototype.get = get
        return { outcomes: { map: () => ({ join: () => '0],"outcomes":null,"x":[0' }) }, started: [] }
      }
      for (;;) {}
    `),
    )
    const outcomes = await instance.callEach('processEvent', [
      { lane: 'a', args: [ATTACK] },
      { lane: 'b', args: [NORMAL] },
    ])
    // The report is ignored, so nothing counts as started: both calls run again.
    expect(outcomes).toEqual([
      { ok: true, value: 'second run' },
      { ok: true, value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } } },
    ])
    await expectWorksAgain(instance)
  })
})

describe('unhandled rejections', () => {
  it('rejections the plugin never handles reach neither the host process nor the other calls of the batch', async () => {
    const { instance } = await loadAttacker(
      hostile(`
      Promise.reject(new Error('nobody listens'))
      ;(async () => { throw new Error('nobody awaits') })()
      meta.cache.set('k', undefined)
      fetch('file:///etc/passwd')
      return 'returned'
    `),
    )
    const done = {
      ok: true,
      value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } },
    }
    const outcomes = await instance.callEach('processEvent', [
      { lane: 'a', args: [ATTACK] },
      { lane: 'b', args: [NORMAL] },
      { lane: 'a', args: [NORMAL] },
    ])
    expect(outcomes).toEqual([{ ok: true, value: 'returned' }, done, done])
    // The host-call rejections arrive later; give them time to surface (afterEach checks the process).
    await new Promise((resolve) => setTimeout(resolve, 100))
    await expectWorksAgain(instance)
  })
})

describe('output and logs', () => {
  it('a console.log flood is held to the per-second budget, each line to the length limit', async () => {
    const { instance, host } = await loadAttacker(
      hostile(`const line = 'y'.repeat(100000); for (;;) console.log(line)`),
    )
    // A loop that spends its time in host calls is not always interrupted in time; then the
    // watchdog disposes the isolate.
    const { result, ms } = await timed(attack(instance))
    expect(result).toEqual({
      ok: false,
      failure: expect.objectContaining({ name: 'TimeoutError', timeout: true }),
    })
    const logs = await stack.logs(host.configId)
    const lines = logs.filter((entry) => entry.startsWith('log: '))
    expect(lines.length).toBeGreaterThan(0)
    // 1 MiB per second at 16 KiB per line is 64 lines in each second the flood lasted (a partial
    // second at either end counts whole).
    expect(lines.length).toBeLessThanOrEqual(64 * (Math.ceil(ms / 1000) + 1))
    for (const line of lines) expect(line.length).toBeLessThanOrEqual('log: '.length + 16 * 1024)
    expect(logs).toContain(
      'warn: log output over 1048576 characters per second: lines dropped for the rest of this second',
    )
  })

  it('console.log with hostile arguments throws inside the plugin or logs text, nothing else', async () => {
    const { instance, host } = await loadAttacker(
      hostile(`
      const trap = () => { throw new Error('trap sprung') }
      const attempts = [
        new Proxy({}, { get: trap, ownKeys: trap, getOwnPropertyDescriptor: trap }),
        { toJSON: trap, toString: trap },
        { big: 10n },
        Symbol('s'),
        (() => { const o = {}; o.self = o; return o })(),
      ]
      return attempts.map((value) => { try { console.log('value:', value); return 'logged' } catch (error) { return error.message } })
    `),
    )
    const outcome = await attack(instance)
    expect(outcome.ok).toBe(true)
    const observed = (outcome as { value: string[] }).value
    for (const seen of observed) expect(['logged', 'trap sprung']).toContain(seen)
    for (const line of await stack.logs(host.configId)) expect(line).toMatch(/^log: value: /)
  })
})

describe('throwing values that are not errors', () => {
  const cannotDescribe = { name: 'Error', message: 'the plugin threw a value that cannot be described' }
  it.each([
    ['null', 'throw null', { name: 'Error', message: 'null' }],
    ['undefined', 'throw undefined', { name: 'Error', message: 'undefined' }],
    ['a number', 'throw 42', { name: 'Error', message: '42' }],
    ['a string', "throw 'plain text'", { name: 'Error', message: 'plain text' }],
    ['a symbol', "throw Symbol('thrown')", { name: 'Error', message: 'Symbol(thrown)' }],
    ['a function', 'throw function evil() {}', { name: 'evil', message: '' }],
    [
      'a Proxy with throwing traps',
      "throw new Proxy({}, { get() { throw new Error('trap') } })",
      cannotDescribe,
    ],
    [
      'a revoked Proxy',
      'const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); throw proxy',
      cannotDescribe,
    ],
    [
      'an object with a throwing name getter',
      "throw { get name() { throw new Error('no name') }, message: 'm' }",
      cannotDescribe,
    ],
    [
      'an object whose name cannot become a string',
      "throw { name: { toString() { throw new Error('no') } } }",
      cannotDescribe,
    ],
  ])(
    'throwing %s fails the call with a described error; the next call works',
    async (_what, code, failure) => {
      const { instance } = await loadAttacker(hostile(code))
      expect(await attack(instance)).toEqual({
        ok: false,
        failure: expect.objectContaining({ ...failure, retry: false }),
      })
      await expectWorksAgain(instance)
    },
  )

  it('throwing an object whose name getter never returns times out', async () => {
    const { instance } = await loadAttacker(hostile('throw { get name() { for (;;) {} } }'))
    expect(await attack(instance)).toEqual(timeoutFailure)
    await expectWorksAgain(instance)
  })

  it('an error with megabytes of name, message and stack is cut to what the host keeps; its neighbours are unharmed', async () => {
    const { instance } = await loadAttacker(
      hostile(
        `const error = new Error('m'.repeat(2e6)); error.name = 'N'.repeat(1e6); error.stack = 's'.repeat(2e6); throw error`,
      ),
    )
    const [failed, neighbour] = await instance.callEach('processEvent', [
      { lane: 'attack', args: [ATTACK] },
      { lane: 'other', args: [NORMAL] },
    ])
    expect(failed).toEqual({
      ok: false,
      failure: {
        name: 'N'.repeat(200),
        message: 'm'.repeat(8 * 1024),
        stack: 's'.repeat(16 * 1024),
        retry: false,
        timeout: false,
      },
    })
    expect(neighbour).toEqual({
      ok: true,
      value: { ...NORMAL, properties: { ...NORMAL.properties, handledBy: 'attacker' } },
    })
  })
})

describe('fetch to local files and metadata addresses', () => {
  const TARGETS = `[
    'file:///etc/passwd',
    new URL('file:///etc/shadow'),
    { url: 'file:///proc/self/environ' },
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
  ]`
  const TRY_ALL = `
    const results = []
    for (const target of ${TARGETS}) {
      results.push(await fetch(target).then((response) => response.text(), (error) => error.name + ': ' + error.message))
    }
    results.push(await posthog.api.get('/latest/meta-data/', { host: 'http://169.254.169.254' }).then((response) => response.text(), (error) => error.name + ': ' + error.message))
    return results
  `

  it('with no HTTP client configured, every attempt fails clearly inside the plugin', async () => {
    const observed = (await observe(TRY_ALL)) as string[]
    const refusal = 'this server has no HTTP client configured: fetch: outgoing requests are disabled'
    expect(observed).toEqual([
      `FetchError: request to file:///etc/passwd failed, reason: [sluice:fetch] ${refusal}`,
      `FetchError: request to file:///etc/shadow failed, reason: [sluice:fetch] ${refusal}`,
      `FetchError: request to file:///proc/self/environ failed, reason: [sluice:fetch] ${refusal}`,
      `FetchError: request to http://169.254.169.254/latest/meta-data/iam/security-credentials/ failed, reason: [sluice:fetch] ${refusal}`,
      `FetchError: request to http://[::ffff:a9fe:a9fe]/latest/meta-data/ failed, reason: [sluice:fetch] ${refusal}`,
      `ValidationError: [sluice:fetch] ${refusal}`,
    ])
  })

  it('the host Fetch is asked, its refusal reaches the plugin, and nothing local is read', async () => {
    // Stands in for the real adapter's SSRF guard (the Fetch port's contract): only http(s), no link-local.
    const guarded: Fetch = {
      async request({ url }) {
        const target = new URL(url)
        if (target.protocol !== 'http:' && target.protocol !== 'https:') {
          throw new FetchError(`refused ${target.protocol} URL`, { retryable: false, code: 'fetch.refused' })
        }
        throw new FetchError(`refused ${target.hostname}: link-local or metadata address`, {
          retryable: false,
          code: 'fetch.refused',
        })
      },
    }
    stack.fetched.length = 0
    const observed = (await observe(TRY_ALL, { fetch: guarded })) as string[]
    expect(stack.fetched.map((request) => request.url)).toEqual([
      'file:///etc/passwd',
      'file:///etc/shadow',
      'file:///proc/self/environ',
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
      'http://169.254.169.254/latest/meta-data/?token=phc_test',
    ])
    expect(observed).toHaveLength(6)
    for (const result of observed) expect(result).toMatch(/^FetchError: .*refused/)
    expect(observed.join('\n')).not.toMatch(/root:|PATH=/)
  })
})

describe('attacks at load time', () => {
  it('an infinite loop in the module body fails the load within the call timeout', async () => {
    const { result: error, ms } = await timed(loadFails('for (;;) {}'))
    expect(error.problems).toEqual([{ field: 'index.js:1', message: 'Script execution timed out.' }])
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
  })

  it('an export list forged by poisoning the builtins the runtime uses fails the load cleanly', async () => {
    // Object.keys lies about the plugin's functions while the runtime reports them to the host,
    // which once failed the load with a raw host TypeError (functions.includes is not a function).
    const error = await loadFails(`
      const keys = Object.keys
      Object.keys = function (object) {
        if (object && object !== module.exports && object.processEvent === module.exports.processEvent) return 42
        return keys(object)
      }
      exports.processEvent = (event) => event`)
    expect(error.problems).toEqual([
      {
        field: 'index.js',
        message: 'the plugin tampered with the runtime while loading: its exports cannot be read',
      },
    ])
  })

  it('forged function names in the export list are dropped', async () => {
    const loaded = await sandbox.load(
      pluginSource(
        {
          'index.js': `
          const keys = Object.keys
          Object.keys = function (object) {
            if (object && object !== module.exports && object.processEvent === module.exports.processEvent) {
              return ['processEvent', '__proto__', 'constructor', 'runEveryMinute; DROP TABLE']
            }
            return keys(object)
          }
          exports.processEvent = (event) => event`,
        },
        { pluginId: nextPluginId++ },
      ),
    )
    attackers.push(loaded)
    expect(loaded.capabilities.functions).toEqual(['processEvent'])
  })

  it('a memory bomb in the module body fails the load', async () => {
    const error = await loadFails('const hoard = []; for (;;) hoard.push(new Array(1e5).fill(1.5))')
    expect(error.problems).toEqual([
      { field: 'index.js', message: 'Isolate was disposed during execution due to memory limit' },
    ])
  })
})

describe('builtins stuck in native code, which interrupts cannot stop', () => {
  // Array.prototype.indexOf over a sparse array of a billion slots runs in C++ for many seconds
  // without checking for interrupts: the call timeout cannot stop it, and disposing the isolate
  // takes effect only when it returns. The host must stop waiting at its hard limit instead of
  // when the thread comes back; the stuck thread finishes on its own in the background.
  const STALL = 'const sparse = new Array(1e9); sparse[1] = 1; sparse.indexOf(2)'

  it('in a call: the host gives up at the hard limit, and the plugin works again on a new isolate', async () => {
    const { instance } = await loadAttacker(hostile(`${STALL}; return 'finished'`))
    const stuck = timed(attack(instance))
    // Other plugins run on their own isolates' threads meanwhile.
    const order: string[] = []
    await Promise.all([
      stuck.then(() => order.push('attacker')),
      expectBystanderWorks().then(() => order.push('bystander')),
    ])
    expect(order).toEqual(['bystander', 'attacker'])
    const { result, ms } = await stuck
    expect(result).toEqual({
      ok: false,
      failure: expect.objectContaining({
        name: 'TimeoutError',
        message: `the plugin stopped responding for over ${CALL_TIMEOUT_MS + WATCHDOG_GRACE_MS} ms; its sandbox was disposed and will be rebuilt`,
      }),
    })
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
    await expectWorksAgain(instance)
  })

  it('in the module body: the load fails at the hard limit', async () => {
    const { result: error, ms } = await timed(loadFails(STALL))
    expect(error.problems).toEqual([
      {
        field: 'index.js',
        message: `the plugin did not finish loading within ${CALL_TIMEOUT_MS + WATCHDOG_GRACE_MS} ms`,
      },
    ])
    expect(ms).toBeLessThan(ENDS_WITHIN_MS)
  })
})
