import { ValidationError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { compilePlugin } from './compile.js'

const source = (files: Record<string, string>, entry = 'index.js') => ({
  pluginId: 1,
  name: 'p',
  version: '1',
  files: { 'plugin.json': '{"name":"p"}', ...files },
  entry,
})

const problemsOf = (run: () => unknown) => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    return (error as ValidationError).problems
  }
  throw new Error('expected a ValidationError')
}

describe('compilePlugin', () => {
  // Regression: every file of the folder used to be compiled and checked, so a plugin shipping
  // `index.test.js` (jest, test utils) or a `rollup.config.js` could not be loaded at all.
  it('compiles only the entry and the files it imports, ignoring tests and build configs', () => {
    const compiled = compilePlugin(
      source({
        'index.js': "const { double } = require('./lib/math')\nexports.processEvent = (e) => e",
        'lib/math.ts': "import data from '../data.json'\nexport const double = (n: number) => n * data.a",
        'data.json': '{"a":1}',
        'index.test.js': "const utils = require('@posthog/plugin-scaffold/test/utils')",
        'rollup.config.js': "import ts from '@rollup/plugin-typescript'\nexport default {",
        'README.md': '# p',
      }),
    )
    expect(compiled.modules.map((module) => module.path)).toEqual(['index.js', 'lib/math.ts', 'data.json'])
  })

  it('still names the file and line of a forbidden import in an imported file', () => {
    const problems = problemsOf(() =>
      compilePlugin(
        source({
          'index.js': "require('./lib')\nexports.processEvent = (e) => e",
          'lib.js': "\n\nconst fs = require('fs')",
        }),
      ),
    )
    expect(problems).toEqual([
      { field: 'lib.js:3', message: "Cannot import 'fs': this module is not available to plugins" },
    ])
  })

  it('refuses to import a file that is neither code nor JSON', () => {
    const problems = problemsOf(() =>
      compilePlugin(source({ 'index.js': "const text = require('./README.md')", 'README.md': '# p' })),
    )
    expect(problems).toEqual([
      {
        field: 'index.js:1',
        message: "Cannot import './README.md': only JavaScript, TypeScript and JSON files can be imported",
      },
    ])
  })

  it('refuses a missing entry file', () => {
    expect(problemsOf(() => compilePlugin(source({ 'other.js': '' })))).toEqual([
      { field: 'index.js', message: 'the entry file is missing or is not a JavaScript/TypeScript file' },
    ])
  })
})
