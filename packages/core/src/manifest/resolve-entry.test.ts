import { describe, expect, it } from 'vitest'
import { ValidationError } from '../errors.js'
import { normalisePluginPath, resolvePluginEntry, resolveRelativeImport } from './resolve-entry.js'

function entryError(main: string | undefined, files: string[]): ValidationError {
  try {
    resolvePluginEntry(main === undefined ? {} : { main }, files)
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    return error as ValidationError
  }
  throw new Error('expected a ValidationError')
}

describe('normalisePluginPath', () => {
  it('drops ./, empty and . segments and applies ..', () => {
    expect(normalisePluginPath('./src//lib/./../index.ts')).toBe('src/index.ts')
    expect(normalisePluginPath('/index.js')).toBe('index.js')
    expect(normalisePluginPath('./')).toBe('')
  })

  it('returns null for a path that leaves the root', () => {
    expect(normalisePluginPath('../x.js')).toBeNull()
    expect(normalisePluginPath('src/../../x.js')).toBeNull()
  })
})

describe('resolvePluginEntry', () => {
  it('uses main in a sub-folder', () => {
    expect(resolvePluginEntry({ main: 'src/index.ts' }, ['plugin.json', 'src/index.ts', 'index.ts'])).toBe(
      'src/index.ts',
    )
    expect(resolvePluginEntry({ main: 'dist/index.js' }, ['dist/index.js', 'src/index.ts'])).toBe(
      'dist/index.js',
    )
  })

  it('normalises ./ in main and in the file list', () => {
    expect(resolvePluginEntry({ main: './dist/index.js' }, ['dist/index.js'])).toBe('dist/index.js')
    expect(resolvePluginEntry({ main: 'dist/index.js' }, ['./dist/index.js'])).toBe('dist/index.js')
  })

  it('tries main, main.ts, main.js, main/index.ts, main/index.js when main has no extension', () => {
    expect(resolvePluginEntry({ main: 'plugin' }, ['plugin', 'plugin.ts'])).toBe('plugin')
    expect(resolvePluginEntry({ main: 'plugin' }, ['plugin.js', 'plugin.ts'])).toBe('plugin.ts')
    expect(resolvePluginEntry({ main: 'plugin' }, ['plugin.js', 'plugin/index.ts'])).toBe('plugin.js')
    expect(resolvePluginEntry({ main: './src' }, ['src/index.js', 'src/index.ts'])).toBe('src/index.ts')
    expect(resolvePluginEntry({ main: 'dist' }, ['dist/index.js'])).toBe('dist/index.js')
  })

  it('does not guess other files when main has an extension', () => {
    const error = entryError('src/index.js', ['src/index.ts'])
    expect(error.problems).toEqual([
      { field: 'main', message: "entry file 'src/index.js' not found; looked for src/index.js" },
    ])
  })

  it('without main prefers index.ts over index.js', () => {
    expect(resolvePluginEntry({}, ['index.js', 'index.ts'])).toBe('index.ts')
    expect(resolvePluginEntry({}, ['./index.js', 'lib.ts'])).toBe('index.js')
  })

  it('without main does not look in sub-folders', () => {
    const error = entryError(undefined, ['src/index.ts'])
    expect(error.problems).toEqual([
      {
        field: 'main',
        message: 'no `main` in plugin.json and no entry file found; looked for index.ts, index.js',
      },
    ])
  })

  it('names main and every path looked for when nothing matches', () => {
    const error = entryError('lib/main', ['index.ts'])
    expect(error.component).toBe('manifest')
    expect(error.problems).toEqual([
      {
        field: 'main',
        message:
          "entry file 'lib/main' not found; looked for lib/main, lib/main.ts, lib/main.js, lib/main/index.ts, lib/main/index.js",
      },
    ])
    expect(error.message).toContain('[sluice:manifest] plugin entry file not found: main: ')
  })

  it('refuses a main outside the plugin folder', () => {
    const error = entryError('../other/index.js', ['index.js'])
    expect(error.problems).toEqual([
      { field: 'main', message: "'../other/index.js' points outside the plugin folder" },
    ])
  })
})

describe('resolveRelativeImport', () => {
  const files = [
    'index.ts',
    'src/index.ts',
    'src/util.ts',
    'src/helpers.js',
    'src/legacy.mjs',
    'src/common.cjs',
    'src/data.json',
    'src/lib/index.ts',
    'src/old/index.js',
    'shared/constants.ts',
    './src/compiled.ts',
  ]

  it('resolves against the importing file folder', () => {
    expect(resolveRelativeImport('src/index.ts', './util', files)).toBe('src/util.ts')
    expect(resolveRelativeImport('src/lib/index.ts', '../util', files)).toBe('src/util.ts')
    expect(resolveRelativeImport('src/index.ts', '../shared/constants', files)).toBe('shared/constants.ts')
    expect(resolveRelativeImport('index.ts', './src/util', files)).toBe('src/util.ts')
  })

  it('tries exact, .ts, .js, .mjs, .cjs, /index.ts, /index.js', () => {
    expect(resolveRelativeImport('src/index.ts', './data.json', files)).toBe('src/data.json')
    expect(resolveRelativeImport('src/index.ts', './helpers', files)).toBe('src/helpers.js')
    expect(resolveRelativeImport('src/index.ts', './legacy', files)).toBe('src/legacy.mjs')
    expect(resolveRelativeImport('src/index.ts', './common', files)).toBe('src/common.cjs')
    expect(resolveRelativeImport('src/index.ts', './lib', files)).toBe('src/lib/index.ts')
    expect(resolveRelativeImport('src/index.ts', './old', files)).toBe('src/old/index.js')
    expect(resolveRelativeImport('src/util.ts', '.', files)).toBe('src/index.ts')
  })

  it('prefers .ts over .js for the same name', () => {
    expect(resolveRelativeImport('a.ts', './b', ['a.ts', 'b.js', 'b.ts'])).toBe('b.ts')
  })

  it('maps a .js specifier to the .ts source when only that exists', () => {
    expect(resolveRelativeImport('src/index.ts', './util.js', files)).toBe('src/util.ts')
    expect(resolveRelativeImport('src/index.ts', './helpers.js', files)).toBe('src/helpers.js')
  })

  it('normalises ./ in the importer and the file list', () => {
    expect(resolveRelativeImport('./src/index.ts', './compiled', files)).toBe('src/compiled.ts')
  })

  it('returns null when no file matches', () => {
    expect(resolveRelativeImport('src/index.ts', './missing', files)).toBeNull()
  })

  it('returns null for a specifier that escapes the plugin root', () => {
    expect(resolveRelativeImport('src/index.ts', '../../index', files)).toBeNull()
    expect(resolveRelativeImport('index.ts', '../index.ts', files)).toBeNull()
    expect(resolveRelativeImport('index.ts', '..', files)).toBeNull()
  })

  it('returns null for bare and absolute specifiers', () => {
    expect(resolveRelativeImport('index.ts', 'src/util', files)).toBeNull()
    expect(resolveRelativeImport('index.ts', '/src/util', files)).toBeNull()
    expect(resolveRelativeImport('index.ts', 'node-fetch', files)).toBeNull()
  })
})
