import { symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ValidationError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { tempRoot, tgz, writeFiles, zip } from '../test/helpers.js'
import {
  contentHash,
  loadPluginArchive,
  loadPluginFiles,
  loadPluginSources,
  readPluginArchive,
  readPluginFiles,
  readPluginSources,
} from './plugin-files.js'

const root = tempRoot()
let count = 0
const folder = (files: Record<string, string | Uint8Array>) => writeFiles(root, `p${++count}`, files)

async function problemsOf(run: Promise<unknown>) {
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ValidationError)
  return (error as ValidationError).problems
}

describe('readPluginFiles on a folder', () => {
  it('reads every text file by POSIX path, skipping node_modules, .git, binary assets and lockfiles', async () => {
    const path = folder({
      'plugin.json': '{"name":"p"}',
      'src/index.ts': 'export {}',
      'src/lib/util.js': 'exports.x = 1',
      'node_modules/dep/index.js': 'module.exports = 1',
      '.git/HEAD': 'ref: refs/heads/main',
      'logo.png': new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]),
      'package-lock.json': '{}',
      '.DS_Store': new Uint8Array([0, 0, 0, 1]),
    })
    const plugin = await readPluginFiles(path)
    expect(Object.keys(plugin.files)).toEqual(['plugin.json', 'src/index.ts', 'src/lib/util.js'])
    expect(plugin.files['src/lib/util.js']).toBe('exports.x = 1')
    expect(plugin.skipped).toEqual(['.DS_Store', 'logo.png', 'package-lock.json'])
    expect(plugin.location).toBe(path)
  })

  it('takes relative paths from the given cwd', async () => {
    const path = folder({ 'plugin.json': '{"name":"p"}' })
    const plugin = await readPluginFiles(`./p${count}`, { cwd: root })
    expect(plugin.location).toBe(path)
  })

  it('follows links to files but not to folders', async () => {
    const path = folder({ 'plugin.json': '{"name":"p"}', 'real.js': 'exports.a = 1' })
    symlinkSync(join(path, 'real.js'), join(path, 'linked.js'))
    symlinkSync(root, join(path, 'loop'))
    const plugin = await readPluginFiles(path)
    expect(Object.keys(plugin.files).sort()).toEqual(['linked.js', 'plugin.json', 'real.js'])
  })

  it('lists every binary, non-UTF-8 and oversized file in one error', async () => {
    const path = folder({
      'plugin.json': '{"name":"p"}',
      'data.bin': new Uint8Array([1, 2, 0, 3]),
      'latin1.txt': new Uint8Array([0x63, 0x61, 0x66, 0xe9]),
      'big.js': 'x'.repeat(2048),
    })
    expect(await problemsOf(readPluginFiles(path, { maxFileBytes: 1024 }))).toEqual([
      { field: 'big.js', message: 'is 2 kB; the limit for one plugin file is 1 kB' },
      {
        field: 'data.bin',
        message: 'is a binary file; a plugin holds text only (code, JSON, docs) — remove it',
      },
      { field: 'latin1.txt', message: 'is not UTF-8 text; save latin1.txt as UTF-8 or remove it' },
    ])
  })

  it('refuses a plugin over the total size or file count before reading any file', async () => {
    const path = folder({ 'plugin.json': '{"name":"p"}', 'a.js': 'a'.repeat(600), 'b.js': 'b'.repeat(600) })
    expect(await problemsOf(readPluginFiles(path, { maxTotalBytes: 1024, maxFiles: 2 }))).toEqual([
      { field: path, message: 'holds 3 files; the limit is 2 (node_modules and .git are not counted)' },
      { field: path, message: 'holds 1.2 kB of files; the limit is 1 kB' },
    ])
  })

  it('says what is wrong with a missing path or a plain file', async () => {
    expect(await problemsOf(readPluginFiles(join(root, 'missing')))).toEqual([
      { field: join(root, 'missing'), message: 'no such file or folder' },
    ])
    const file = join(root, 'index.js')
    writeFileSync(file, '')
    expect(await problemsOf(readPluginFiles(file))).toEqual([
      { field: file, message: 'is a file; give a plugin folder or a .tgz, .tar or .zip archive' },
    ])
  })
})

describe('readPluginFiles on an archive', () => {
  const files = { 'plugin.json': '{"name":"p"}', 'index.ts': 'export function processEvent(e) { return e }' }

  it('reads an npm pack tarball, taking the plugin out of its package/ folder', async () => {
    const path = join(root, 'plugin.tgz')
    writeFileSync(path, tgz({ ...files, 'node_modules/x/index.js': '', 'logo.png': 'PNG' }, 'package/'))
    const plugin = await readPluginFiles(path)
    expect(plugin.files).toEqual(files)
    expect(plugin.skipped).toEqual(['logo.png'])
  })

  it('reads long names from pax headers', async () => {
    const long = `${'deep/'.repeat(25)}file.js`
    const path = join(root, 'long.tgz')
    writeFileSync(path, tgz({ ...files, [long]: 'exports.a = 1' }))
    expect((await readPluginFiles(path)).files[long]).toBe('exports.a = 1')
  })

  it('reads a zip, with or without one top folder', async () => {
    writeFileSync(join(root, 'flat.zip'), zip(files))
    writeFileSync(join(root, 'nested.zip'), zip(files, 'plugin-main/'))
    expect((await readPluginFiles(join(root, 'flat.zip'))).files).toEqual(files)
    expect((await readPluginFiles(join(root, 'nested.zip'))).files).toEqual(files)
  })

  it('refuses entries that climb out of the archive root', async () => {
    const path = join(root, 'evil.zip')
    writeFileSync(path, zip({ ...files, '../../etc/passwd': 'x' }))
    expect(await problemsOf(readPluginFiles(path))).toEqual([
      { field: '../../etc/passwd', message: 'points outside the plugin folder' },
    ])
  })

  it('refuses a file that is not the archive it claims to be', async () => {
    const path = join(root, 'fake.tgz')
    writeFileSync(path, 'not gzip')
    const [problem] = await problemsOf(readPluginFiles(path))
    expect(problem?.message).toMatch(/^is not a gzip file: /)
  })

  it('stops a zip entry that unpacks past the file limit', async () => {
    const path = join(root, 'bomb.zip')
    writeFileSync(path, zip({ ...files, 'big.js': 'x'.repeat(4096) }))
    expect(await problemsOf(readPluginFiles(path, { maxFileBytes: 1024 }))).toEqual([
      { field: 'big.js', message: 'is larger than 1 kB, the limit for one plugin file' },
    ])
  })
})

describe('loadPluginFiles', () => {
  it('resolves the manifest and entry with core, and versions the source by content', async () => {
    const path = folder({ 'plugin.json': '{"name":"hello","main":"src/index"}', 'src/index.ts': 'export {}' })
    const plugin = await loadPluginFiles(path, { pluginId: 7 })
    expect(plugin.manifest).toEqual({ name: 'hello', main: 'src/index', config: [] })
    expect(plugin.source).toEqual({
      pluginId: 7,
      name: 'hello',
      version: contentHash(plugin.files),
      files: plugin.files,
      entry: 'src/index.ts',
    })
    expect(contentHash({ 'a.js': '1' })).not.toBe(contentHash({ 'a.js': '2' }))
    expect(contentHash({ 'a.js': '1', 'b.js': '2' })).toBe(contentHash({ 'b.js': '2', 'a.js': '1' }))
  })

  it('reports a missing plugin.json and a missing entry as manifest problems', async () => {
    expect(await problemsOf(loadPluginFiles(folder({ 'index.js': '' })))).toEqual([
      { field: 'plugin.json', message: expect.stringMatching(/^is missing from /) },
    ])
    expect(await problemsOf(loadPluginFiles(folder({ 'plugin.json': '{"name":"p"}' })))).toEqual([
      {
        field: 'main',
        message: 'no `main` in plugin.json and no entry file found; looked for index.ts, index.js',
      },
    ])
  })
})

describe('readPluginArchive', () => {
  const files = { 'plugin.json': '{"name":"p"}', 'index.ts': 'export function processEvent(e) { return e }' }

  it('reads archive bytes by the kind its name gives, named in problems', async () => {
    const plugin = await readPluginArchive(tgz({ ...files, 'logo.png': 'PNG' }, 'package/'), {
      name: 'upload.tgz',
    })
    expect(plugin.files).toEqual(files)
    expect(plugin.skipped).toEqual(['logo.png'])
    expect(plugin.location).toBe('upload.tgz')
  })

  it('reads archive bytes by an explicit kind, whatever the name', async () => {
    const plugin = await readPluginArchive(zip(files, 'plugin-main/'), { kind: 'zip', name: 'upload' })
    expect(plugin.files).toEqual(files)
  })

  it('says how to name an archive whose kind it cannot tell', async () => {
    expect(await problemsOf(readPluginArchive(zip(files)))).toEqual([
      {
        field: 'the uploaded archive',
        message: 'is not a known archive kind; name it .tgz, .tar.gz, .tar or .zip, or give its kind',
      },
    ])
    expect(await problemsOf(readPluginArchive(zip(files), { name: 'plugin.rar' }))).toEqual([
      {
        field: 'plugin.rar',
        message: 'is not a known archive kind; name it .tgz, .tar.gz, .tar or .zip, or give its kind',
      },
    ])
  })

  it('applies the folder limits: archive size, file count and every bad file', async () => {
    const data = tgz({ ...files, 'big.js': 'x'.repeat(2048) })
    expect(await problemsOf(readPluginArchive(data, { name: 'a.tgz', maxTotalBytes: 64 }))).toEqual([
      { field: 'a.tgz', message: 'is larger than 64 B, the limit for a plugin' },
    ])
    expect(
      await problemsOf(readPluginArchive(zip({ ...files, 'c.js': '' }), { kind: 'zip', maxFiles: 2 })),
    ).toEqual([{ field: 'the uploaded archive', message: 'holds more than 2 files, the limit for a plugin' }])
    const bad = zip({ ...files, 'data.bin': new Uint8Array([1, 0]), 'latin1.txt': new Uint8Array([0xe9]) })
    expect(await problemsOf(readPluginArchive(bad, { name: 'bad.zip' }))).toEqual([
      {
        field: 'data.bin',
        message: 'is a binary file; a plugin holds text only (code, JSON, docs) — remove it',
      },
      { field: 'latin1.txt', message: 'is not UTF-8 text; save latin1.txt as UTF-8 or remove it' },
    ])
  })

  it('refuses corrupt bytes and entries that climb out of the root', async () => {
    const [problem] = await problemsOf(readPluginArchive(new Uint8Array([1, 2, 3]), { kind: 'tgz' }))
    expect(problem?.message).toMatch(/^is not a gzip file: /)
    expect(await problemsOf(readPluginArchive(zip({ ...files, '../x.js': '' }), { kind: 'zip' }))).toEqual([
      { field: '../x.js', message: 'points outside the plugin folder' },
    ])
  })

  it('loads the source with the manifest, like a folder', async () => {
    const plugin = await loadPluginArchive(tgz(files), { name: 'p.tgz', pluginId: 3 })
    expect(plugin.source).toMatchObject({ pluginId: 3, name: 'p', entry: 'index.ts' })
  })
})

describe('readPluginSources', () => {
  it('normalises paths, sorts files and skips what a folder skips', async () => {
    const plugin = await readPluginSources({
      './src/index.ts': 'export {}',
      'plugin.json': '{"name":"p"}',
      'node_modules/x/index.js': '',
      'yarn.lock': '',
    })
    expect(plugin.files).toEqual({ 'plugin.json': '{"name":"p"}', 'src/index.ts': 'export {}' })
    expect(Object.keys(plugin.files)).toEqual(['plugin.json', 'src/index.ts'])
    expect(plugin.skipped).toEqual(['yarn.lock'])
    expect(plugin.location).toBe('source files')
    expect(plugin.bytes).toBe(21)
  })

  it('lists every path outside the root, duplicate and non-text value in one error', async () => {
    expect(
      await problemsOf(
        readPluginSources({ '../etc/passwd': 'x', 'a.js': '1', './a.js': '2', 'b.js': 42, '': 'x' }),
      ),
    ).toEqual([
      { field: '../etc/passwd', message: 'points outside the plugin folder; use a path inside it' },
      { field: './a.js', message: 'names a.js again; give each file once' },
      { field: 'b.js', message: "is not text; give each file's contents as a string" },
      { field: '', message: 'points outside the plugin folder; use a path inside it' },
    ])
  })

  it('applies the limits in UTF-8 bytes and refuses NUL characters', async () => {
    expect(await problemsOf(readPluginSources({ 'a.js': 'é'.repeat(600) }, { maxFileBytes: 1024 }))).toEqual([
      { field: 'a.js', message: 'is 1.2 kB; the limit for one plugin file is 1 kB' },
    ])
    expect(
      await problemsOf(readPluginSources({ 'a.js': '1', 'b.js': '2', 'c.js': '3' }, { maxFiles: 2 })),
    ).toEqual([
      {
        field: 'source files',
        message: 'holds 3 files; the limit is 2 (node_modules and .git are not counted)',
      },
    ])
    expect(await problemsOf(readPluginSources({ 'a.js': 'x\0y' }))).toEqual([
      {
        field: 'a.js',
        message: 'is a binary file; a plugin holds text only (code, JSON, docs) — remove it',
      },
    ])
  })

  it('loads the source, reporting a missing entry as a manifest problem', async () => {
    const plugin = await loadPluginSources({ 'plugin.json': '{"name":"s"}', 'index.js': 'exports.a = 1' })
    expect(plugin.source).toMatchObject({ name: 's', entry: 'index.js', version: contentHash(plugin.files) })
    expect(await problemsOf(loadPluginSources({ 'plugin.json': '{"name":"s"}' }))).toEqual([
      {
        field: 'main',
        message: 'no `main` in plugin.json and no entry file found; looked for index.ts, index.js',
      },
    ])
  })
})
