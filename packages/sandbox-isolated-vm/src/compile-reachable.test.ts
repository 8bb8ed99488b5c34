import type { PluginSource } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { compilePlugin } from './compile.js'

const source = (files: Record<string, string>, entry = 'index.ts'): PluginSource => ({
  pluginId: 1,
  name: 'reachable',
  version: '1',
  files: { 'plugin.json': '{"name":"reachable"}', ...files },
  entry,
})

describe('compilePlugin compiles what the entry reaches', () => {
  // Regression: every source file in the folder used to be compiled, so a plugin folder shipping
  // its own tests (`import { it } from 'vitest'`) or a vitest config failed to load.
  it('ignores files the entry never imports, whatever they import', () => {
    const compiled = compilePlugin(
      source({
        'index.ts': "import { double } from './lib/math'\nexport const processEvent = (e) => double(e)",
        'lib/math.ts': "import data from '../data.json'\nexport const double = (x) => [x, x, data]",
        'data.json': '{"a":1}',
        'test/index.test.ts': "import { it } from 'vitest'\nit('x', () => {})",
        'vitest.config.ts':
          "import { sluiceProject } from '../../../tooling/vitest/project.ts'\nsluiceProject('x')",
      }),
    )
    expect(compiled.modules.map((module) => module.path)).toEqual(['index.ts', 'lib/math.ts', 'data.json'])
    expect(compiled.modules[0]?.imports).toEqual({ './lib/math': 'lib/math.ts' })
  })

  it('still names every forbidden import among the files the entry reaches', () => {
    expect(() =>
      compilePlugin(
        source({
          'index.ts': "import './helper'\nimport fs from 'fs'\nexport const x = fs",
          'helper.ts': "import { Client } from 'pg'\nexport const c = Client",
        }),
      ),
    ).toThrow(
      "index.ts:2: Cannot import 'fs': this module is not available to plugins; helper.ts:1: Cannot import 'pg': this module is not available to plugins",
    )
  })

  it('refuses an import of a file that is not code or JSON', () => {
    expect(() =>
      compilePlugin(
        source({ 'index.js': "const t = require('./notes.txt')", 'notes.txt': 'hi' }, 'index.js'),
      ),
    ).toThrow(
      "index.js:1: Cannot import './notes.txt': only JavaScript, TypeScript and JSON files can be imported",
    )
  })

  it('refuses a missing entry file', () => {
    expect(() => compilePlugin(source({ 'other.ts': '' }))).toThrow(
      'index.ts: the entry file is missing or is not a JavaScript/TypeScript file',
    )
  })
})
