import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parsePluginManifest } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { tempRoot } from '../test/helpers.js'
import { type ChainPlugin, folderName, resolveChainConfigs } from './plugin-config.js'

const root = tempRoot()

const plugin = (name: string, config: unknown[], folder = name): ChainPlugin => ({
  name,
  folder,
  manifest: parsePluginManifest({ name, config }),
})

const none = { config: [], configFiles: [], attachments: [] }

const geo = plugin('geo', [
  { key: 'apiKey', required: true, secret: true },
  { key: 'region', default: 'eu' },
])
const tagger = plugin('tagger', [{ key: 'tag' }, { key: 'region' }], 'tagger-plugin')

describe('resolveChainConfigs', () => {
  it('validates with core: defaults applied, json parsed, every problem by plugin and key', async () => {
    const json = plugin('json', [{ key: 'map', type: 'json' }])
    expect(await resolveChainConfigs([json], { ...none, config: ['map={"a":1}'] }, root)).toEqual({
      ok: true,
      configs: [{ config: { map: { a: 1 } }, attachments: [] }],
    })
    expect(await resolveChainConfigs([geo, tagger], none, root)).toEqual({
      ok: false,
      problems: ['[geo] config apiKey: is required'],
    })
  })

  it('gives a shared key to every plugin that declares it, and a <plugin>.key to that plugin only', async () => {
    const result = await resolveChainConfigs(
      [geo, tagger],
      { ...none, config: ['apiKey=k', 'region=us', 'tagger-plugin.region=asia', 'tagger.tag=t'] },
      root,
    )
    expect(result).toEqual({
      ok: true,
      configs: [
        { config: { apiKey: 'k', region: 'us' }, attachments: [] },
        { config: { tag: 't', region: 'asia' }, attachments: [] },
      ],
    })
  })

  it('reports a shared key no plugin declares, without quoting its value', async () => {
    const result = await resolveChainConfigs(
      [geo, tagger],
      { ...none, config: ['apiKey=k', 'token=secret'] },
      root,
    )
    expect(result).toEqual({
      ok: false,
      problems: [
        "--config token: no plugin of the chain has a config field 'token' (to set it for one plugin: <plugin>.token=…)",
      ],
    })
    expect(JSON.stringify(result)).not.toContain('secret')
  })

  it('with a single plugin, leaves unknown keys to core validation', async () => {
    expect(
      await resolveChainConfigs([geo], { ...none, config: ['apiKey=k', 'nope=1', 'bad'] }, root),
    ).toEqual({
      ok: false,
      problems: [
        '--config bad: expected key=value',
        "[geo] config nope: not a field of this plugin's config",
      ],
    })
  })

  it('layers config files under flags, with per-plugin objects under a plugin name', async () => {
    const file = join(root, 'config.json')
    writeFileSync(file, JSON.stringify({ apiKey: 'from-file', region: 'us', tagger: { tag: 'file-tag' } }))
    const result = await resolveChainConfigs(
      [geo, tagger],
      { ...none, configFiles: ['config.json'], config: ['region=eu', 'geo.apiKey=flag'] },
      root,
    )
    expect(result).toEqual({
      ok: true,
      configs: [
        { config: { apiKey: 'flag', region: 'eu' }, attachments: [] },
        { config: { tag: 'file-tag', region: 'eu' }, attachments: [] },
      ],
    })
  })

  it('reports an unreadable or invalid config file without echoing its text', async () => {
    writeFileSync(join(root, 'broken.json'), '{"apiKey": hunter2}')
    writeFileSync(join(root, 'array.json'), '[]')
    const result = await resolveChainConfigs(
      [geo],
      { ...none, config: ['apiKey=k'], configFiles: ['missing.json', 'broken.json', 'array.json'] },
      root,
    )
    expect(result.ok).toBe(false)
    const problems = result.ok ? [] : result.problems
    expect(problems[0]).toBe('--config-file missing.json: no such file')
    expect(problems[1]).toMatch(/^--config-file broken\.json: is not valid JSON( \(at [^)]+\))?$/)
    expect(problems[2]).toBe('--config-file array.json: must hold a JSON object of config values')
    expect(problems.join('\n')).not.toContain('hunter2')
  })

  it('reads attachments for declared attachment fields, and satisfies required ones', async () => {
    const cert = plugin('cert', [{ key: 'ca', type: 'attachment', required: true }])
    writeFileSync(join(root, 'ca.pem'), 'PEM')
    expect(await resolveChainConfigs([cert], none, root)).toEqual({
      ok: false,
      problems: ['[cert] config ca: is required: upload a file'],
    })
    expect(
      await resolveChainConfigs(
        [cert, geo],
        { ...none, config: ['apiKey=k'], attachments: ['ca=ca.pem'] },
        root,
      ),
    ).toEqual({
      ok: true,
      configs: [
        {
          config: {},
          attachments: [
            {
              key: 'ca',
              fileName: 'ca.pem',
              contentType: 'application/x-pem-file',
              contents: new Uint8Array([80, 69, 77]),
            },
          ],
        },
        { config: { apiKey: 'k', region: 'eu' }, attachments: [] },
      ],
    })
    const problems = await resolveChainConfigs(
      [cert, geo],
      { ...none, config: ['apiKey=k'], attachments: ['ca=missing.pem', 'geo.ca=ca.pem', 'logo=ca.pem'] },
      root,
    )
    expect(problems).toEqual({
      ok: false,
      problems: [
        '--attachment ca: missing.pem: no such file',
        "--attachment geo.ca: plugin 'geo' has no attachment field 'ca'",
        "--attachment logo: no plugin of the chain has an attachment field 'logo'",
        '[cert] config ca: is required: upload a file',
      ],
    })
  })
})

describe('folderName', () => {
  it('names a plugin by its folder or archive, without the archive extension', () => {
    expect(folderName('/a/b/geoip')).toBe('geoip')
    expect(folderName('plugins/hello.tgz')).toBe('hello')
    expect(folderName('hello.tar.gz')).toBe('hello')
    expect(folderName('x.zip')).toBe('x')
  })
})
