import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildMmdb } from '@sluice/geoip-mmdb'
import { describe, expect, it } from 'vitest'
import { jsonLines, jsonl, sluice, startSluice, tempRoot, writeFiles } from './helpers.js'

const root = tempRoot()

// CommonJS JavaScript, `main` in a sub-folder, a relative require, meta.global from setupPlugin.
writeFiles(root, 'counter', {
  'plugin.json': JSON.stringify({ name: 'counter', main: 'lib/main.js' }),
  'lib/main.js': `const { label } = require('./label')
module.exports = {
  setupPlugin({ global }) { global.count = 0 },
  processEvent(event, { global }) {
    global.count += 1
    event.properties.count = global.count
    event.properties.label = label
    console.log('counted', event.event, global.count)
    return event
  },
}
`,
  'lib/label.js': "exports.label = 'cjs'\n",
})

// TypeScript ES module with a config default, reading what the previous plugin wrote.
writeFiles(root, 'greeter', {
  'plugin.json': JSON.stringify({
    name: 'greeter',
    config: [{ key: 'greeting', default: 'hello' }],
  }),
  'index.ts': `import type { PluginEvent, PluginMeta } from '@posthog/plugin-scaffold'

interface Config { greeting: string }

export function processEvent(event: PluginEvent, { config }: { config: Config }): PluginEvent {
  const count: number | undefined = event.properties?.count
  event.properties = { ...event.properties, greeting: \`\${config.greeting} #\${count ?? '-'}\` }
  return event
}
`,
})

writeFiles(root, 'dropper', {
  'plugin.json': '{"name":"dropper"}',
  'index.js': "exports.processEvent = (event) => (event.event === 'spam' ? null : event)\n",
})

writeFiles(root, 'thrower', {
  'plugin.json': '{"name":"thrower"}',
  'index.js': `exports.processEvent = (event) => {
  if (event.properties.fail) throw new TypeError('cannot handle ' + event.event)
  event.properties.thrower = 'ok'
  return event
}
`,
})

writeFiles(root, 'needs-key', {
  'plugin.json': JSON.stringify({
    name: 'needs-key',
    config: [
      { key: 'apiKey', required: true, secret: true },
      { key: 'mode', type: 'choice', choices: ['a', 'b'], default: 'a' },
      { key: 'mapping', type: 'json' },
      { key: 'ca', type: 'attachment' },
    ],
  }),
  'index.js': `exports.processEvent = (event, { config, attachments }) => {
  event.properties.mode = config.mode
  event.properties.keyLength = config.apiKey.length
  event.properties.mapping = config.mapping
  event.properties.ca = attachments.ca ? attachments.ca.file_name + ':' + attachments.ca.contents.toString() : null
  return event
}
`,
})

const props = (stdout: string) => jsonLines(stdout).map((event) => event.properties)

describe('sluice run', () => {
  it('runs a CommonJS plugin over JSONL: events out on stdout, logs and the summary on stderr', async () => {
    const result = await sluice(['run', 'counter'], {
      cwd: root,
      stdin: jsonl(
        { event: 'a', distinct_id: 'u1' },
        { event: 'b', distinct_id: 'u1', properties: { x: 1 } },
      ),
    })
    expect(result.stderr).toBe(
      '[counter] log: counted a 1\n[counter] log: counted b 2\nin 2, out 2, dropped 0, failed 0\n',
    )
    expect(result.code).toBe(0)
    const events = jsonLines(result.stdout)
    expect(events).toEqual([
      {
        uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        distinct_id: 'u1',
        ip: null,
        team_id: 1,
        event: 'a',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        properties: { count: 1, label: 'cjs', $plugins_succeeded: ['counter (1)'] },
      },
      expect.objectContaining({
        event: 'b',
        properties: { x: 1, count: 2, label: 'cjs', $plugins_succeeded: ['counter (1)'] },
      }),
    ])
  })

  it('keeps given fields and fills missing ones', async () => {
    const given = {
      uuid: '00000000-0000-4000-8000-000000000001',
      event: 'pageview',
      distinct_id: 'd',
      team_id: 1,
      ip: '10.0.0.1',
      timestamp: '2024-05-06T07:08:09.000Z',
      properties: { $current_url: 'https://example.com' },
      $set: { plan: 'pro' },
    }
    const result = await sluice(['run', 'dropper'], { cwd: root, stdin: jsonl(given, { event: 'bare' }) })
    expect(result.code).toBe(0)
    const [kept, bare] = jsonLines(result.stdout)
    expect(kept).toEqual({
      uuid: given.uuid,
      distinct_id: 'd',
      ip: '10.0.0.1',
      team_id: 1,
      event: 'pageview',
      timestamp: '2024-05-06T07:08:09.000Z',
      properties: { $current_url: 'https://example.com', $plugins_succeeded: ['dropper (1)'] },
      $set: { plan: 'pro' },
    })
    expect(bare).toMatchObject({ distinct_id: 'anonymous', team_id: 1, ip: null, event: 'bare' })
  })

  it('runs a chain of plugins in the order given, each seeing the output of the one before', async () => {
    const input = jsonl({ event: 'a', distinct_id: 'u1' })
    const forward = await sluice(['run', 'counter', 'greeter'], { cwd: root, stdin: input })
    expect(forward.code).toBe(0)
    expect(props(forward.stdout)).toEqual([
      { count: 1, label: 'cjs', greeting: 'hello #1', $plugins_succeeded: ['counter (1)', 'greeter (2)'] },
    ])
    const backward = await sluice(['run', 'greeter', 'counter', '--config', 'greeting=hi'], {
      cwd: root,
      stdin: input,
    })
    expect(props(backward.stdout)).toEqual([
      { greeting: 'hi #-', count: 1, label: 'cjs', $plugins_succeeded: ['greeter (1)', 'counter (2)'] },
    ])
  })

  it('leaves dropped events out and counts them', async () => {
    const result = await sluice(['run', 'dropper', 'counter'], {
      cwd: root,
      stdin: jsonl({ event: 'spam' }, { event: 'ok' }, { event: 'spam' }),
    })
    expect(result.code).toBe(0)
    expect(jsonLines(result.stdout).map((event) => event.event)).toEqual(['ok'])
    expect(result.stderr).toBe('[counter] log: counted ok 1\nin 3, out 1, dropped 2, failed 0\n')
  })

  it('passes an event a plugin threw on to the next plugin unchanged, recording the failure; exit 1', async () => {
    const result = await sluice(['run', 'thrower', 'greeter'], {
      cwd: root,
      stdin: jsonl({ event: 'good', uuid: 'e1' }, { event: 'bad', uuid: 'e2', properties: { fail: true } }),
    })
    expect(result.code).toBe(1)
    expect(props(result.stdout)).toEqual([
      { thrower: 'ok', greeting: 'hello #-', $plugins_succeeded: ['thrower (1)', 'greeter (2)'] },
      {
        fail: true,
        greeting: 'hello #-',
        $plugins_succeeded: ['greeter (2)'],
        $plugins_failed: ['thrower (1)'],
      },
    ])
    expect(result.stderr).toBe(
      '[thrower] error: processEvent failed on event e2: TypeError: cannot handle bad\n' +
        'in 2, out 2, dropped 0, failed 1\n',
    )
  })

  it('reports lines that are not events with their line number, counts them failed and goes on', async () => {
    const stdin = [
      JSON.stringify({ event: 'first' }),
      '',
      '{"event": "broken"',
      '[1, 2]',
      JSON.stringify({ properties: {} }),
      JSON.stringify({ event: 'last' }),
      '',
    ].join('\n')
    const result = await sluice(['run', 'dropper'], { cwd: root, stdin })
    expect(result.code).toBe(1)
    expect(jsonLines(result.stdout).map((event) => event.event)).toEqual(['first', 'last'])
    const lines = result.stderr.split('\n')
    expect(lines.filter((line) => line.startsWith('sluice run: line '))).toEqual([
      expect.stringMatching(/^sluice run: line 3: not valid JSON: /),
      'sluice run: line 4: an event must be a JSON object',
      'sluice run: line 5: event must be a non-empty string',
    ])
    expect(lines.at(-2)).toBe('in 5, out 2, dropped 0, failed 3')
  })

  it('refuses to start without a required config value, listing every problem; exit 1', async () => {
    const result = await sluice(['run', 'needs-key', '--config', 'mode=c', '--config', 'mapping={oops'], {
      cwd: root,
      stdin: jsonl({ event: 'a' }),
    })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr.split('\n')).toEqual([
      'sluice run: [needs-key] config apiKey: is required',
      'sluice run: [needs-key] config mode: must be one of: a, b',
      expect.stringMatching(/^sluice run: \[needs-key\] config mapping: is not valid JSON: /),
      'sluice run: nothing was run (3 problems)',
      '',
    ])
  })

  it('takes config from flags, per-plugin flags, config files and attachments', async () => {
    writeFileSync(join(root, 'ca.pem'), 'CERT')
    writeFileSync(
      join(root, 'config.json'),
      JSON.stringify({ 'needs-key': { apiKey: 'abc', mapping: { a: 1 } } }),
    )
    const result = await sluice(
      [
        'run',
        'needs-key',
        'greeter',
        '--config-file',
        'config.json',
        '--config',
        'needs-key.mode=b',
        '--config',
        'greeting=hey',
        '--attachment',
        'ca=ca.pem',
      ],
      { cwd: root, stdin: jsonl({ event: 'a' }) },
    )
    expect(result.stderr).toBe('in 1, out 1, dropped 0, failed 0\n')
    expect(props(result.stdout)).toEqual([
      {
        mode: 'b',
        keyLength: 3,
        mapping: { a: 1 },
        ca: 'ca.pem:CERT',
        greeting: 'hey #-',
        $plugins_succeeded: ['needs-key (1)', 'greeter (2)'],
      },
    ])
  })

  it('stops before reading events when setupPlugin fails', async () => {
    writeFiles(root, 'broken-setup', {
      'plugin.json': '{"name":"broken-setup"}',
      'index.js':
        "exports.setupPlugin = () => { throw new Error('no database') }\nexports.processEvent = (e) => e\n",
    })
    const result = await sluice(['run', 'broken-setup'], { cwd: root, stdin: jsonl({ event: 'a' }) })
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: [
        '[broken-setup] error: disabled: setupPlugin failed: Error: no database',
        'sluice run: [broken-setup] did not start (setupPlugin failed); nothing was run',
        'in 0, out 0, dropped 0, failed 0',
        '',
      ].join('\n'),
    })
  })

  it('runs events of other teams through their own configs of the chain', async () => {
    const result = await sluice(['run', 'counter'], {
      cwd: root,
      stdin: jsonl({ event: 'a' }, { event: 'b', team_id: 2 }, { event: 'c' }),
    })
    expect(result.code).toBe(0)
    expect(
      jsonLines(result.stdout).map((event) => [
        event.event,
        event.team_id,
        (event.properties as { count: number }).count,
      ]),
    ).toEqual([
      ['a', 1, 1],
      ['c', 1, 2],
      ['b', 2, 1],
    ])
  })

  it('runs events a plugin captures through the chain, and says which functions it does not run', async () => {
    writeFiles(root, 'capturer', {
      'plugin.json': '{"name":"capturer"}',
      'index.js': `exports.processEvent = async (event) => {
  if (event.event === 'signup') await posthog.capture('welcome', { distinct_id: event.distinct_id })
  return event
}
exports.exportEvents = async () => {}
`,
    })
    const result = await sluice(['run', 'capturer'], {
      cwd: root,
      stdin: jsonl({ event: 'signup', distinct_id: 'u9' }),
    })
    expect(result.code).toBe(0)
    expect(jsonLines(result.stdout).map((event) => [event.event, event.distinct_id])).toEqual([
      ['signup', 'u9'],
      ['welcome', 'u9'],
    ])
    expect(result.stderr).toBe(
      'sluice run: note: [capturer] exportEvents not run by sluice run\nin 1, out 2, dropped 0, failed 0, captured 1\n',
    )
  })

  it('refuses to run a plugin whose code cannot load, naming the file and line', async () => {
    writeFiles(root, 'uses-fs', {
      'plugin.json': '{"name":"uses-fs"}',
      'index.js': "exports.processEvent = (e) => e\nconst fs = require('fs')\n",
    })
    const result = await sluice(['run', 'uses-fs'], { cwd: root, stdin: jsonl({ event: 'a' }) })
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: [
        "[uses-fs] error: disabled: load failed: ValidationError: [sluice:sandbox] plugin 'uses-fs' cannot be loaded: index.js:2: Cannot import 'fs': this module is not available to plugins",
        'sluice run: [uses-fs] did not start (load failed); nothing was run',
        'in 0, out 0, dropped 0, failed 0',
        '',
      ].join('\n'),
    })
  })

  it('processes input as it arrives, without waiting for the end of stdin', async () => {
    const child = startSluice(['run', 'counter'], { cwd: root })
    child.stdin.write(jsonl({ event: 'first' }))
    const firstLine = await new Promise<string>((resolve) => {
      child.stdout.setEncoding('utf8').once('data', (chunk: string) => resolve(chunk))
    })
    expect(JSON.parse(firstLine)).toMatchObject({ event: 'first', properties: { count: 1 } })
    child.stdin.end(jsonl({ event: 'second' }))
    const code = await new Promise((resolve) => child.on('close', resolve))
    expect(code).toBe(0)
  })

  it('refuses a plugin that cannot be read, before running anything', async () => {
    const result = await sluice(['run', 'nowhere', 'counter'], { cwd: root, stdin: jsonl({ event: 'a' }) })
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'sluice run: nowhere: no such file or folder\nsluice run: nothing was run (1 problem)\n',
    })
  })

  it('answers meta.geoip from the --geoip database', async () => {
    const database = join(root, 'city.mmdb')
    writeFileSync(
      database,
      buildMmdb({ networks: [{ network: '81.2.69.0/24', record: { country: { iso_code: 'GB' } } }] }),
    )
    writeFiles(root, 'locator', {
      'plugin.json': '{"name":"locator"}',
      'index.js': `exports.processEvent = async (event, { geoip }) => {
  const city = await geoip.locate(event.ip)
  event.properties.country = city ? city.country.iso_code : null
  return event
}
`,
    })
    const result = await sluice(['run', 'locator', '--geoip', 'city.mmdb'], {
      cwd: root,
      stdin: jsonl({ event: 'a', ip: '81.2.69.160' }, { event: 'b', ip: '192.0.2.1' }),
    })
    expect(result.code).toBe(0)
    expect(
      jsonLines(result.stdout).map((event) => (event.properties as { country: unknown }).country),
    ).toEqual(['GB', null])
  })

  it('refuses a --geoip file that is not a MaxMind database, before running anything', async () => {
    writeFileSync(join(root, 'not-a-db.mmdb'), 'hello')
    const result = await sluice(['run', 'counter', '--geoip', 'not-a-db.mmdb'], { cwd: root, stdin: '' })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('sluice run: --geoip:')
    expect(result.stderr).toContain('nothing was run')
  })

  it('lets plugins fetch through the SSRF guard: loopback targets are refused', async () => {
    writeFiles(root, 'fetcher', {
      'plugin.json': '{"name":"fetcher"}',
      'index.js': `exports.processEvent = async (event) => {
  await fetch('http://127.0.0.1:9/secret')
  return event
}
`,
    })
    const result = await sluice(['run', 'fetcher'], { cwd: root, stdin: jsonl({ event: 'a' }) })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/\[fetcher\] error: .*127\.0\.0\.1/)
    expect(jsonLines(result.stdout)).toHaveLength(1)
  })
})
