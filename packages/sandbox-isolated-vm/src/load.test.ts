import { ValidationError } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createStack, loadPlugin, pluginSource } from '../test/stack.js'
import { createIsolatedVmSandbox } from './index.js'

const event = { event: 'pageview', distinct_id: 'u1', team_id: 2, properties: {} }
const sandboxes: Array<{ close(): Promise<void> }> = []

async function process(files: Record<string, string>, entry?: string) {
  const sandbox = createIsolatedVmSandbox()
  sandboxes.push(sandbox)
  const loaded = await sandbox.load(pluginSource(files, entry ? { entry } : {}))
  const instance = await loaded.instantiate(createStack().hostFor(loaded, 'test-plugin'))
  return { loaded, result: await instance.call('processEvent', [event]) }
}

afterEach(async () => {
  for (const sandbox of sandboxes.splice(0)) await sandbox.close()
})

const marked = { ...event, properties: { marked: true } }
const markBody = 'event.properties = { ...event.properties, marked: true }; return event'

describe('source forms (SPEC §1)', () => {
  it.each([
    [
      'CommonJS module.exports in .js',
      'index.js',
      `module.exports = { processEvent(event) { ${markBody} } }`,
    ],
    ['CommonJS exports.x in .js', 'index.js', `exports.processEvent = function (event) { ${markBody} }`],
    [
      'ES module export function in .ts',
      'index.ts',
      `export function processEvent(event: any) { ${markBody} }`,
    ],
    [
      'TypeScript syntax and export inside a .js file',
      'index.js',
      `interface Props { marked?: boolean }\nexport function processEvent(event: { properties: Props }) { ${markBody} }`,
    ],
    ['export default object', 'index.ts', `export default { processEvent(event: any) { ${markBody} } }`],
    [
      'module.exports = plugin in .ts',
      'index.ts',
      `const plugin = { processEvent(event: any) { ${markBody} } }\nmodule.exports = plugin`,
    ],
    ['async arrow export', 'index.ts', `export const processEvent = async (event: any) => { ${markBody} }`],
  ])('loads %s', async (_form, file, code) => {
    const { result } = await process({ [file]: code }, file)
    expect(result).toEqual(marked)
  })

  it('prefers ES exports over exports.default when both define a function', async () => {
    const { result } = await process({
      'index.ts': `
        export function processEvent(event: any) { event.properties.from = 'named'; return event }
        export default { processEvent(event: any) { event.properties.from = 'default'; return event } }
      `,
    })
    expect(result).toMatchObject({ properties: { from: 'named' } })
  })

  it('keeps plain CommonJS files in sloppy mode, as they were written', async () => {
    const { result } = await process({
      'index.js': `module.exports = { processEvent(event) { undeclared = 1; event.properties.sloppy = this === undefined ? 'strict' : 'sloppy'; return event } }`,
    })
    expect(result).toMatchObject({ properties: { sloppy: 'sloppy' } })
  })

  it('resolves relative imports between the plugin files, sub-folders and JSON', async () => {
    const { result } = await process(
      {
        'src/index.ts': `
          import { mark } from './lib/mark'
          import defaults from '../defaults.json'
          const { suffix } = require('./lib/suffix.js')
          export function processEvent(event: any) { return mark(event, defaults.label + suffix) }
        `,
        'src/lib/mark.ts': `export const mark = (event: any, label: string) => ({ ...event, properties: { label } })`,
        'src/lib/suffix.js': `exports.suffix = '!'`,
        'defaults.json': '{ "label": "hello" }',
      },
      'src/index.ts',
    )
    expect(result).toMatchObject({ properties: { label: 'hello!' } })
  })

  it('runs a dist/ build entry with circular requires resolved like Node', async () => {
    const { result } = await process(
      {
        'dist/index.js': `const a = require('./a'); exports.processEvent = (e) => ({ ...e, properties: { a: a.name, b: a.b() } })`,
        'dist/a.js': `exports.name = 'a'; const b = require('./b'); exports.b = () => b.name + b.seenA`,
        'dist/b.js': `const a = require('./a'); exports.name = 'b'; exports.seenA = a.name`,
      },
      'dist/index.js',
    )
    expect(result).toMatchObject({ properties: { a: 'a', b: 'ba' } })
  })
})

describe('imports (SPEC §1)', () => {
  it('refuses a forbidden import at load, naming the module, file and line', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const source = pluginSource({
      'index.ts': `import { readFileSync } from 'fs'\n\nimport AWS from 'aws-sdk'\nexport function processEvent(e: any) { return [readFileSync, AWS] }`,
    })
    const error = await sandbox.load(source).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ValidationError)
    expect((error as ValidationError).problems).toEqual([
      { field: 'index.ts:1', message: "Cannot import 'fs': this module is not available to plugins" },
      { field: 'index.ts:3', message: "Cannot import 'aws-sdk': this module is not available to plugins" },
    ])
  })

  it('ignores imports TypeScript elides (used only as types), as tsc and Babel do', async () => {
    const { result } = await process({
      'index.ts': `import { S3 } from 'aws-sdk'\nexport function processEvent(e: any): S3 | any { return e }`,
    })
    expect(result).toEqual(event)
  })

  it('refuses require() of a missing plugin file and dynamic import of a forbidden module', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const source = pluginSource({
      'index.js': `const x = require('./missing')\nexports.processEvent = async (e) => { await import('child_process'); return e }`,
    })
    const error = (await sandbox.load(source).catch((e: unknown) => e)) as ValidationError
    expect(error.problems).toEqual([
      { field: 'index.js:1', message: "Cannot import './missing': no such file in the plugin" },
      {
        field: 'index.js:2',
        message: "Cannot import 'child_process': this module is not available to plugins",
      },
    ])
  })

  it('refuses a require whose name is only known at run time, with the same message', async () => {
    const { instance } = await loadPlugin({
      'index.js': `exports.processEvent = (e) => { const name = 'f' + 's'; require(name); return e }`,
    })
    const [outcome] = await instance.callEach('processEvent', [{ lane: 'a', args: [event] }])
    expect(outcome).toMatchObject({
      ok: false,
      failure: { message: "Cannot import 'fs': this module is not available to plugins" },
    })
  })

  it('reports a syntax error with the file', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const error = (await sandbox
      .load(pluginSource({ 'index.ts': 'export function processEvent(e) { return e' }))
      .catch((e: unknown) => e)) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.problems[0]?.field).toBe('index.ts')
    expect(error.problems[0]?.message).toMatch(/syntax error/)
  })

  it('reports a throw while the module evaluates with the file and line', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const error = (await sandbox
      .load(pluginSource({ 'index.js': `const a = 1\nthrow new Error('broken at load')\n` }))
      .catch((e: unknown) => e)) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.problems).toEqual([{ field: 'index.js:2', message: 'broken at load' }])
  })

  it.each([
    [
      '@posthog/plugin-scaffold',
      `const { RetryError } = require('@posthog/plugin-scaffold'); return typeof RetryError`,
      'function',
    ],
    ['@posthog/plugin-contrib', `return typeof require('@posthog/plugin-contrib').createBuffer`, 'function'],
    [
      'node-fetch',
      `const f = require('node-fetch'); return typeof f + typeof f.default + typeof f.FetchError`,
      'functionfunctionfunction',
    ],
    [
      'crypto',
      `return require('crypto').createHash('sha256').update('abc').digest('hex').slice(0, 16)`,
      'ba7816bf8f01cfea',
    ],
    [
      'node:crypto',
      `return require('node:crypto').createHash('md5').update('a').digest('hex')`,
      '0cc175b9c0f1b6a831c399e269772661',
    ],
    [
      'crypto hmac',
      `return require('crypto').createHmac('sha1', 'key').update('x').digest('base64')`,
      'KgDo6DQ9+GxMGIsmPuyjMa+jFUg=',
    ],
    ['crypto randomUUID', `return /^[0-9a-f-]{36}$/.test(require('crypto').randomUUID())`, true],
    [
      'crypto timingSafeEqual',
      `const c = require('crypto'); return c.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab'))`,
      true,
    ],
    [
      'url',
      `const { parse, URL } = require('url'); return parse('https://a.b/c?d=1', true).query.d + new URL('/x', 'https://a.b').href`,
      '1https://a.b/x',
    ],
    [
      'zlib',
      `const z = require('zlib'); return z.gunzipSync(z.gzipSync(Buffer.from('hello'))).toString()`,
      'hello',
    ],
    [
      'zlib deflate',
      `const z = require('zlib'); return z.inflateSync(z.deflateSync('abc')).toString('utf8')`,
      'abc',
    ],
    [
      'stream',
      `const { PassThrough } = require('stream'); const s = new PassThrough(); let out = ''; s.on('data', (c) => { out += c.toString() }); s.write('a'); s.end('b'); return out`,
      'ab',
    ],
  ])('provides %s', async (_name, body, expected) => {
    const { result } = await process({
      'index.js': `exports.processEvent = (e) => { return (() => { ${body} })() }`,
    })
    expect(result).toEqual(expected)
  })

  it.each([
    [
      'Buffer',
      `Buffer.from('héllo').toString('base64') + Buffer.from('68690a', 'hex').toString() + Buffer.byteLength('é') + Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString() + Buffer.isBuffer(Buffer.from('x')) + Buffer.from('abc').slice(1).toString()`,
      'aMOpbGxv' + 'hi\n' + '2abtruebc',
    ],
    ['TextEncoder/TextDecoder', `new TextDecoder().decode(new TextEncoder().encode('€ and 😀'))`, '€ and 😀'],
    ['atob/btoa', `atob(btoa('hello'))`, 'hello'],
    [
      'URL and URLSearchParams',
      `(() => { const u = new URL('https://user@example.com:8080/p?a=1#h'); u.searchParams.append('b', 'x y'); return [u.hostname, u.port, u.search, u.hash, new URLSearchParams({ q: '1' }).toString()].join('|') })()`,
      'example.com|8080|?a=1&b=x+y|#h|q=1',
    ],
    [
      'no timers',
      `[typeof setTimeout, typeof setInterval, typeof setImmediate].join()`,
      'undefined,undefined,undefined',
    ],
    ['no process, no global require', `typeof process + typeof globalThis.require`, 'undefinedundefined'],
  ])('offers the global %s', async (_name, expression, expected) => {
    const { result } = await process({ 'index.js': `exports.processEvent = () => ${expression}` })
    expect(result).toEqual(expected)
  })
})

describe('capabilities (without running setupPlugin)', () => {
  it('reports functions, schedules, jobs and metrics', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const loaded = await sandbox.load(
      pluginSource({
        'index.ts': `
          export function setupPlugin() { throw new Error('setup must not run at load') }
          export const onEvent = async () => {}
          export function runEveryHour() {}
          export const jobs = { sync: async () => {}, cleanUp: () => {} }
          export const metrics = { total: 'SUM', peak: 'max' }
          export default { composeWebhook: () => null }
        `,
      }),
    )
    expect(loaded.capabilities).toEqual({
      functions: ['setupPlugin', 'onEvent', 'composeWebhook', 'runEveryHour'],
      schedules: ['runEveryHour'],
      jobs: ['sync', 'cleanUp'],
      metrics: { total: 'sum', peak: 'max' },
    })
  })

  it('fails the load on a metrics declaration of another type', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const error = await sandbox
      .load(pluginSource({ 'index.ts': `export const metrics = { total: 'average' }` }))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ValidationError)
    expect((error as Error).message).toMatch(/metric 'total' has unsupported type 'average'/)
  })

  it('compiles a plugin version once however often it is loaded', async () => {
    const sandbox = createIsolatedVmSandbox()
    sandboxes.push(sandbox)
    const source = pluginSource({ 'index.js': 'exports.processEvent = (e) => e' })
    const first = await sandbox.load(source)
    const second = await sandbox.load({
      ...source,
      files: { ...source.files, 'index.js': 'syntax error here' },
    })
    expect(second.capabilities).toEqual(first.capabilities)
  })
})
