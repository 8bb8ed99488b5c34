import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { sluice, tempRoot, tgz, writeFiles } from './helpers.js'

const root = tempRoot()
/** The report with the byte count of the files line replaced, as it depends on JSON formatting. */
const sized = (report: string) => report.replace(/files, [\d.]+ k?B/g, 'files, N B')

const tsPlugin = {
  'plugin.json': JSON.stringify({
    name: 'Geo Tagger',
    main: 'src/index.ts',
    config: [
      { markdown: 'Get a key first.' },
      { key: 'apiKey', name: 'API key', required: true, secret: true },
      { key: 'mode', type: 'choice', choices: ['fast', 'exact'], default: 'fast' },
    ],
    publicJobs: { Backfill: { payload: { days: { type: 'number' } } } },
  }),
  'src/index.ts': `import { RetryError } from '@posthog/plugin-scaffold'
import { label } from './label'
import type { PluginEvent } from '@posthog/plugin-scaffold'

export const metrics = { tagged: 'sum', slowest: 'MAX' }
export const jobs = {
  Backfill: async (payload: { days: number }) => {},
}

export function setupPlugin() {}
export function processEvent(event: PluginEvent, { config }: any): PluginEvent {
  event.properties = { ...event.properties, geo: label(config.mode) }
  return event
}
export function runEveryHour() {}
`,
  'src/label.ts': "export const label = (mode: string): string => 'geo:' + mode\n",
  'src/index.test.ts': "import { createEvent } from '@posthog/plugin-scaffold/test/utils'\n",
  'README.md': '# Geo Tagger\n',
}

describe('sluice validate', () => {
  it('reports a valid TypeScript ES-module plugin and its capabilities, exit 0', async () => {
    const folder = writeFiles(root, 'geo', tsPlugin)
    const result = await sluice(['validate', 'geo'], { cwd: root })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(sized(result.stdout)).toBe(
      [
        'Validating geo',
        '  files        5 files, N B',
        '  plugin.json  ok: "Geo Tagger", entry src/index.ts',
        '  config       ok: apiKey (string, required, secret), mode (choice: fast|exact, default "fast")',
        '  code         ok: loads in the isolated-vm sandbox',
        '  functions    setupPlugin, processEvent, runEveryHour',
        '  schedules    runEveryHour',
        '  jobs         Backfill',
        '  metrics      tagged (sum), slowest (max)',
        '  publicJobs   Backfill',
        'valid',
        '',
      ].join('\n'),
    )
    expect(folder).toBe(join(root, 'geo'))
  })

  it('lists a forbidden import with its file and line, and every other problem, exit 1', async () => {
    writeFiles(root, 'forbidden', {
      'plugin.json': JSON.stringify({
        name: 'forbidden',
        url: 42,
        config: [{ key: 'mode', type: 'choice' }],
      }),
      'index.js':
        "const helpers = require('./helpers')\nexports.processEvent = (event) => helpers.tag(event)\n",
      'helpers.js':
        "// reads a file\n\nconst fs = require('fs')\nconst { exec } = require('child_process')\nexports.tag = (e) => e\n",
    })
    const result = await sluice(['validate', 'forbidden'], { cwd: root })
    expect({ ...result, stdout: sized(result.stdout) }).toEqual({
      code: 1,
      stderr: '',
      stdout: [
        'Validating forbidden',
        '  files        3 files, N B',
        '  plugin.json  1 problem',
        '    plugin.json url: must be a string, not a number',
        '  config       1 problem',
        '    plugin.json config[0].choices: a choice field needs `choices`: a non-empty array of strings',
        '  code         2 problems',
        "    helpers.js:3: Cannot import 'fs': this module is not available to plugins",
        "    helpers.js:4: Cannot import 'child_process': this module is not available to plugins",
        'invalid: 4 problems',
        '',
      ].join('\n'),
    })
  })

  it('reports code that throws while loading, with the file and line', async () => {
    writeFiles(root, 'throws', {
      'plugin.json': '{"name":"throws"}',
      'index.js': "exports.processEvent = (e) => e\n\nthrow new Error('not configured')\n",
    })
    const result = await sluice(['validate', 'throws'], { cwd: root })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('  code         1 problem\n    index.js:3: not configured\n')
  })

  it('checks a given config against the schema', async () => {
    writeFiles(root, 'geo-config', tsPlugin)
    const missing = await sluice(['validate', 'geo-config', '--config', 'mode=slow'], { cwd: root })
    expect(missing.code).toBe(1)
    expect(missing.stdout).toContain(
      '  config       2 problems\n    config apiKey: is required\n    config mode: must be one of: fast, exact\n',
    )
    const given = await sluice(['validate', 'geo-config', '--config', 'apiKey=k'], { cwd: root })
    expect(given.code).toBe(0)
    expect(given.stdout).toContain('; the given config is valid\n')
  })

  it('reports unreadable plugins: a missing folder, a binary file', async () => {
    writeFiles(root, 'binary', {
      'plugin.json': '{"name":"b"}',
      'index.js': '',
      'blob.dat': new Uint8Array([0, 1]),
    })
    const result = await sluice(['validate', 'missing', 'binary'], { cwd: root })
    expect(result).toEqual({
      code: 1,
      stderr: '',
      stdout: [
        'Validating missing',
        '  files        1 problem',
        '    no such file or folder',
        'invalid: 1 problem',
        '',
        'Validating binary',
        '  files        1 problem',
        '    blob.dat: is a binary file; a plugin holds text only (code, JSON, docs) — remove it',
        'invalid: 1 problem',
        '',
      ].join('\n'),
    })
  })

  it('validates an npm pack archive and warns about public jobs without a job', async () => {
    writeFileSync(
      join(root, 'packed.tgz'),
      tgz(
        {
          'package.json': '{"name":"packed","version":"1.0.0"}',
          'plugin.json': JSON.stringify({ name: 'packed', publicJobs: { Export: {} } }),
          'index.js': 'module.exports = { onEvent: async () => {} }\n',
        },
        'package/',
      ),
    )
    const result = await sluice(['validate', 'packed.tgz'], { cwd: root })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('  functions    onEvent\n')
    expect(result.stdout).toContain(
      "  warning      publicJobs 'Export' has no matching export in jobs\nvalid (1 warning)\n",
    )
  })
})
