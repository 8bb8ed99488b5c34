import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createAdminHarness, PLUGIN_FILES } from '../../test/admin-harness.js'

const root = mkdtempSync(join(tmpdir(), 'sluice-admin-'))
let folders = 0

function pluginFolder(files: Record<string, string>): string {
  const folder = join(root, `plugin-${++folders}`)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true })
    writeFileSync(join(folder, path), text)
  }
  return folder
}

/** A real archive, made by the system's tar and zip, as an operator would upload it. */
function archive(kind: 'tgz' | 'zip', files: Record<string, string>): Buffer {
  const folder = pluginFolder(files)
  const out = join(root, `plugin-${folders}.${kind}`)
  if (kind === 'tgz') execFileSync('tar', ['-czf', out, '-C', folder, '.'])
  else execFileSync('zip', ['-qr', out, '.'], { cwd: folder })
  return readFileSync(out)
}

describe('installing plugins', () => {
  it('installs from source files and shows the manifest, version and file names, not the source', async () => {
    const admin = createAdminHarness()
    const installed = await admin.call('POST', '/api/plugins', {
      json: { files: { ...PLUGIN_FILES, 'logo.png': 'PNG' } },
    })
    expect(installed.status).toBe(201)
    expect(installed.body).toMatchObject({
      id: 1,
      name: 'hello',
      description: 'says hello',
      url: 'https://example.com/hello',
      files: ['index.ts', 'plugin.json'],
      skipped: ['logo.png'],
      publicJobs: { backfill: expect.any(Object), ping: {} },
    })
    expect(installed.body.version).toMatch(/^[0-9a-f]{16}$/)
    expect(installed.body.configSchema.map((field: { key: string }) => field.key)).toEqual([
      'greeting',
      'apiKey',
      'mode',
      'settings',
      'certificate',
    ])
    expect(installed.body.sources).toBeUndefined()
    expect((await admin.registry.getPlugin(1))?.files).toEqual(PLUGIN_FILES)
  })

  it('installs from a folder path on the server', async () => {
    const admin = createAdminHarness()
    const installed = await admin.call('POST', '/api/plugins', { json: { path: pluginFolder(PLUGIN_FILES) } })
    expect(installed.status).toBe(201)
    expect(installed.body.files).toEqual(['index.ts', 'plugin.json'])
  })

  it('installs an uploaded .tgz by its content type and a zip by its ?name=', async () => {
    const admin = createAdminHarness()
    const tgz = await admin.call('POST', '/api/plugins?name=hello.tgz', {
      raw: archive('tgz', PLUGIN_FILES),
      contentType: 'application/gzip',
    })
    expect(tgz.status).toBe(201)
    expect(tgz.body.files).toEqual(['index.ts', 'plugin.json'])
    const zip = await admin.call('POST', '/api/plugins?name=hello.zip', {
      raw: archive('zip', PLUGIN_FILES),
      contentType: 'application/octet-stream',
    })
    expect(zip.status).toBe(201)
    expect(zip.body.version).toBe(tgz.body.version)
  })

  it('lists every problem of an invalid plugin in a 400', async () => {
    const admin = createAdminHarness()
    const bad = await admin.call('POST', '/api/plugins', {
      json: { files: { 'plugin.json': '{"name":"x"}', '../escape.js': '', 'a.js': 7 } },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.problems).toEqual([
      { field: '../escape.js', message: 'points outside the plugin folder; use a path inside it' },
      { field: 'a.js', message: "is not text; give each file's contents as a string" },
    ])
    expect(bad.body.error).toContain('../escape.js: points outside the plugin folder')

    const noEntry = await admin.call('POST', '/api/plugins', {
      json: { files: { 'plugin.json': '{"name":"x"}' } },
    })
    expect(noEntry.status).toBe(400)
    expect(noEntry.body.problems).toEqual([
      {
        field: 'main',
        message: 'no `main` in plugin.json and no entry file found; looked for index.ts, index.js',
      },
    ])

    const badManifest = await admin.call('POST', '/api/plugins', {
      json: { files: { 'plugin.json': '{"description":1}', 'index.js': '' } },
    })
    expect(badManifest.status).toBe(400)
    expect(badManifest.body.problems.map((problem: { field: string }) => problem.field)).toContain('name')
    expect(await admin.registry.listPlugins()).toEqual([])
  })

  it('says how to send a plugin when the body names none, or is of another type', async () => {
    const admin = createAdminHarness()
    const empty = await admin.call('POST', '/api/plugins', { json: {} })
    expect(empty.status).toBe(400)
    expect(empty.body.error).toMatch(/^the body names no plugin: send JSON \{"path": /)
    const both = await admin.call('POST', '/api/plugins', { json: { path: '/x', files: {} } })
    expect(both.status).toBe(400)
    const typo = await admin.call('POST', '/api/plugins', { json: { file: {} } })
    expect(typo.body.error).toBe('unknown field file: this endpoint takes path, files')
    const text = await admin.call('POST', '/api/plugins', { raw: 'hello', contentType: 'text/plain' })
    expect(text.status).toBe(415)
    expect(text.body.error).toMatch(/^Content-Type text\/plain is not accepted here: send JSON/)
    const unnamed = await admin.call('POST', '/api/plugins', {
      raw: archive('zip', PLUGIN_FILES),
      contentType: 'application/octet-stream',
    })
    expect(unnamed.status).toBe(400)
    expect(unnamed.body.problems[0].message).toMatch(/^is not a known archive kind; name it/)
    const missing = await admin.call('POST', '/api/plugins', { json: { path: join(root, 'nope') } })
    expect(missing.status).toBe(400)
    expect(missing.body.problems).toEqual([{ field: join(root, 'nope'), message: 'no such file or folder' }])
  })

  it('refuses an upload over the plugin size limit with a 413 naming the limit', async () => {
    const admin = createAdminHarness({ pluginLimits: { maxTotalBytes: 1024 } })
    const big = await admin.call('POST', '/api/plugins?name=big.tgz', {
      raw: new Uint8Array(4096),
      contentType: 'application/gzip',
    })
    expect(big.status).toBe(413)
    expect(big.body.error).toBe(
      'the plugin upload is larger than 1024 bytes, the limit for a plugin: remove large files',
    )
  })
})

describe('reading, updating and removing plugins', () => {
  it('lists plugins and shows one, with its sources only when ?files=1', async () => {
    const admin = createAdminHarness()
    const id = await admin.installPlugin()
    const list = await admin.call('GET', '/api/plugins')
    expect(list.status).toBe(200)
    expect(list.body.plugins.map((plugin: { id: number; name: string }) => [plugin.id, plugin.name])).toEqual(
      [[id, 'hello']],
    )
    const one = await admin.call('GET', `/api/plugins/${id}`)
    expect(one.body.sources).toBeUndefined()
    const withFiles = await admin.call('GET', `/api/plugins/${id}?files=1`)
    expect(withFiles.body.sources).toEqual(PLUGIN_FILES)
  })

  it('answers 404 naming an unknown id, and 400 for an id that is not a number', async () => {
    const admin = createAdminHarness()
    const unknown = await admin.call('GET', '/api/plugins/42')
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toBe('no plugin with id 42: GET /api/plugins lists the installed ones')
    const notNumber = await admin.call('DELETE', '/api/plugins/abc')
    expect(notNumber.status).toBe(400)
    expect(notNumber.body.error).toBe(
      "plugin id 'abc' is not a positive whole number: use an id from GET /api/plugins",
    )
  })

  it('updates a plugin to a new version, announces it, and shows configs the new schema rejects', async () => {
    const admin = createAdminHarness()
    const id = await admin.installPlugin()
    const config = await admin.call('POST', '/api/configs', {
      json: { pluginId: id, teamId: 2, config: { apiKey: 'k', greeting: 'hey' } },
    })
    const announced = admin.announcements.length
    const manifest = JSON.parse(PLUGIN_FILES['plugin.json'])
    manifest.config = [{ key: 'apiKey', type: 'string', secret: true }]
    const updated = await admin.call('PUT', `/api/plugins/${id}`, {
      json: { files: { ...PLUGIN_FILES, 'plugin.json': JSON.stringify(manifest) } },
    })
    expect(updated.status).toBe(200)
    expect(updated.body.changed).toBe(true)
    expect(updated.body.configProblems).toEqual([
      {
        configId: config.body.id,
        problems: [
          { field: 'greeting', message: "not a field of this plugin's config" },
          { field: 'mode', message: "not a field of this plugin's config" },
        ],
      },
    ])
    expect(admin.announcements.length).toBe(announced + 1)

    const same = await admin.call('PUT', `/api/plugins/${id}`, {
      json: { files: { ...PLUGIN_FILES, 'plugin.json': JSON.stringify(manifest) } },
    })
    expect(same.body.changed).toBe(false)
    expect(admin.announcements.length).toBe(announced + 1)
  })

  it('removes a plugin with its configs and announces it', async () => {
    const admin = createAdminHarness()
    const id = await admin.installPlugin()
    await admin.call('POST', '/api/configs', { json: { pluginId: id, teamId: 2, config: { apiKey: 'k' } } })
    const announced = admin.announcements.length
    const removed = await admin.call('DELETE', `/api/plugins/${id}`)
    expect(removed.status).toBe(204)
    expect(await admin.registry.listPlugins()).toEqual([])
    expect(await admin.registry.listConfigs()).toEqual([])
    expect(admin.announcements.length).toBe(announced + 1)
    expect((await admin.call('DELETE', `/api/plugins/${id}`)).status).toBe(404)
  })
})
