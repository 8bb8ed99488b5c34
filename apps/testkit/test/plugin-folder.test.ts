import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ValidationError } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readPluginFolder, toPluginSource } from '../src/index.js'

describe('readPluginFolder', () => {
  let folder: string

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'sluice-testkit-'))
  })
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true })
  })

  const put = async (path: string, contents: string | Uint8Array) => {
    await mkdir(join(folder, path, '..'), { recursive: true })
    await writeFile(join(folder, path), contents)
  }

  it('reads every text file by POSIX path, skipping node_modules, .git, binaries and links', async () => {
    await put('plugin.json', '{"name":"p","main":"src/index.ts"}')
    await put('src/index.ts', 'export function processEvent(e) { return e }')
    await put('src/lib/util.ts', 'export const x = 1')
    await put('README.md', '# p')
    await put('node_modules/dep/index.js', 'module.exports = 1')
    await put('.git/HEAD', 'ref: refs/heads/main')
    await put('GeoLite2-City.mmdb', new Uint8Array([0xab, 0xcd, 0x00, 0xef]))
    await put('latin1.txt', new Uint8Array([0x63, 0x61, 0x66, 0xe9]))
    await symlink(join(folder, 'README.md'), join(folder, 'link.md'))

    expect(await readPluginFolder(folder)).toEqual({
      'README.md': '# p',
      'plugin.json': '{"name":"p","main":"src/index.ts"}',
      'src/index.ts': 'export function processEvent(e) { return e }',
      'src/lib/util.ts': 'export const x = 1',
    })
  })

  it('says which folder it could not read', async () => {
    await expect(readPluginFolder(join(folder, 'missing'))).rejects.toThrow(
      `[sluice:testkit] cannot read the plugin folder ${join(folder, 'missing')}: Error: ENOENT`,
    )
  })

  it('takes a file URL', async () => {
    await put('plugin.json', '{"name":"p"}')
    expect(await readPluginFolder(pathToFileURL(`${folder}/`))).toEqual({ 'plugin.json': '{"name":"p"}' })
  })
})

describe('toPluginSource', () => {
  it('parses plugin.json and resolves the entry with core', () => {
    const { manifest, source } = toPluginSource({
      'plugin.json': '{"name":"exporter","main":"dist/index","config":{"url":{"name":"URL"}}}',
      'dist/index.js': 'exports.exportEvents = () => {}',
    })
    expect(manifest.name).toBe('exporter')
    expect(manifest.config).toEqual([{ key: 'url', name: 'URL', type: 'string' }])
    expect(source).toMatchObject({ pluginId: 1, name: 'exporter', version: 'test', entry: 'dist/index.js' })
  })

  it('says so when plugin.json is missing', () => {
    expect(() => toPluginSource({ 'index.js': '' })).toThrow(
      'the plugin has no plugin.json: plugin.json: add a plugin.json with at least a "name"',
    )
  })

  it('reports every plugin.json problem at once', () => {
    let error: unknown
    try {
      toPluginSource({ 'plugin.json': '{"config":[{"key":"mode","type":"choice"}]}', 'index.js': '' })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ValidationError)
    expect((error as ValidationError).problems.map((problem) => problem.field)).toEqual([
      'name',
      'config[0].choices',
    ])
  })

  it('names the entry files it looked for', () => {
    expect(() => toPluginSource({ 'plugin.json': '{"name":"p"}', 'src/index.ts': '' })).toThrow(
      'looked for index.ts, index.js',
    )
  })
})
