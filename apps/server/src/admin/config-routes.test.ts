import { SECRET_MASK } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createAdminHarness } from '../../test/admin-harness.js'

const SECRET = 'sk_live_do-not-leak-4242'

async function withConfig(config: Record<string, unknown> = { apiKey: SECRET }, extra = {}) {
  const admin = createAdminHarness()
  const pluginId = await admin.installPlugin()
  const created = await admin.call('POST', '/api/configs', {
    json: { pluginId, teamId: 2, config, ...extra },
  })
  if (created.status !== 201) throw new Error(`config not created: ${created.text}`)
  return { admin, pluginId, id: created.body.id as number, created }
}

describe('creating configs', () => {
  it('validates against the schema, applies defaults, stores the secret and shows it masked', async () => {
    const { admin, pluginId, id, created } = await withConfig({ apiKey: SECRET, settings: '{"a":1}' })
    expect(created.body).toMatchObject({
      id,
      pluginId,
      pluginName: 'hello',
      teamId: 2,
      enabled: true,
      order: 0,
      config: { apiKey: SECRET_MASK, greeting: 'hi', mode: 'fast', settings: { a: 1 } },
      error: null,
      revision: 1,
    })
    expect((await admin.registry.getConfig(id))?.config).toEqual({
      apiKey: SECRET,
      greeting: 'hi',
      mode: 'fast',
      settings: { a: 1 },
    })
    expect(admin.announcements.length).toBe(1)
  })

  it('appends a config to the end of its team chain unless given an order', async () => {
    const { admin, pluginId } = await withConfig()
    const second = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { apiKey: 'k' } },
    })
    const placed = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 3, order: 7, config: { apiKey: 'k' } },
    })
    expect([second.body.order, placed.body.order]).toEqual([1, 7])
  })

  it('lists every schema problem by key in one 400, quoting no value', async () => {
    const { admin, pluginId } = await withConfig()
    const bad = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { mode: 'turbo', settings: `{${SECRET}`, extra: 1 } },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.problems).toEqual([
      { field: 'apiKey', message: 'is required' },
      { field: 'mode', message: 'must be one of: fast, slow' },
      { field: 'settings', message: expect.stringMatching(/^is not valid JSON/) },
      { field: 'extra', message: "not a field of this plugin's config" },
    ])
    expect(bad.body.error).toMatch(/^the config for plugin hello is invalid: apiKey: is required; mode: /)
    expect(bad.text).not.toContain(SECRET)
  })

  it('says what is wrong with the body fields and an unknown plugin', async () => {
    const { admin, pluginId } = await withConfig()
    const cases: [unknown, number, string][] = [
      [{ teamId: 2 }, 400, 'pluginId is missing: send it as a whole number'],
      [{ pluginId, teamId: 'two' }, 400, 'teamId must be a whole number of at least 0'],
      [{ pluginId, teamId: 2, enabled: 'yes' }, 400, 'enabled must be true or false'],
      [
        { pluginId, teamId: 2, config: [] },
        400,
        'config must be a JSON object of values by key, e.g. {"apiKey": "..."}',
      ],
      [
        { pluginId, teamId: 2, confg: {} },
        400,
        'unknown field confg: this endpoint takes pluginId, teamId, enabled, order, config',
      ],
      [
        { pluginId: 99, teamId: 2 },
        404,
        'no plugin with id 99: install it with POST /api/plugins, or pick an id from GET /api/plugins',
      ],
    ]
    for (const [json, status, error] of cases) {
      const result = await admin.call('POST', '/api/configs', { json })
      expect([result.status, result.body.error]).toEqual([status, error])
    }
    const notJson = await admin.call('POST', '/api/configs', {
      raw: `{"apiKey": "${SECRET}"`,
      contentType: 'application/json',
    })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error).toBe('the request body is not valid JSON: send a JSON object')
    const array = await admin.call('POST', '/api/configs', { json: [1] })
    expect(array.body.error).toBe('the request body must be a JSON object, e.g. {"key": "value"}')
  })

  it('lets a disabled config wait for a required attachment, and checks it on enabling', async () => {
    const admin = createAdminHarness()
    const pluginId = await admin.installPlugin()
    const config = { apiKey: SECRET, mode: 'slow' }
    const enabled = await admin.call('POST', '/api/configs', { json: { pluginId, teamId: 2, config } })
    expect(enabled.status).toBe(400)
    expect(enabled.body.problems).toEqual([{ field: 'certificate', message: 'is required: upload a file' }])
    expect(enabled.body.error).toContain('save the config with "enabled": false')

    const disabled = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, enabled: false, config },
    })
    expect(disabled.status).toBe(201)
    const id = disabled.body.id
    expect((await admin.call('PATCH', `/api/configs/${id}`, { json: { enabled: true } })).status).toBe(400)
    const uploaded = await admin.call('PUT', `/api/configs/${id}/attachments/certificate?fileName=cert.pem`, {
      raw: '-----BEGIN CERTIFICATE-----',
      contentType: 'application/x-pem-file',
    })
    expect(uploaded.body).toEqual({
      key: 'certificate',
      contentType: 'application/x-pem-file',
      fileName: 'cert.pem',
      bytes: 27,
    })
    const now = await admin.call('PATCH', `/api/configs/${id}`, { json: { enabled: true } })
    expect(now.status).toBe(200)
    expect(now.body.enabled).toBe(true)

    const removal = await admin.call('DELETE', `/api/configs/${id}/attachments/certificate`)
    expect(removal.status).toBe(409)
    expect(removal.body.error).toBe(
      `plugin config ${id} is enabled and needs attachment certificate: upload a replacement with PUT, or disable the config first`,
    )
  })
})

describe('reading and changing configs', () => {
  it('lists configs filtered by team and plugin, with secrets masked', async () => {
    const { admin, pluginId, id } = await withConfig()
    const other = await admin.installPlugin()
    await admin.call('POST', '/api/configs', {
      json: { pluginId: other, teamId: 3, config: { apiKey: SECRET } },
    })
    const ids = async (query: string) =>
      (await admin.call('GET', `/api/configs${query}`)).body.configs.map(
        (config: { id: number }) => config.id,
      )
    expect(await ids('')).toEqual([id, id + 1])
    expect(await ids('?team=2')).toEqual([id])
    expect(await ids(`?plugin=${other}`)).toEqual([id + 1])
    expect(await ids(`?team=3&plugin=${pluginId}`)).toEqual([])
    expect((await admin.call('GET', '/api/configs?team=x')).body.error).toBe(
      'team must be a whole number of at least 0',
    )
    expect((await admin.call('GET', '/api/configs')).body.configs[0].config.apiKey).toBe(SECRET_MASK)
  })

  it('shows one config with its attachments, and 404s an unknown one', async () => {
    const { admin, id } = await withConfig()
    await admin.call('PUT', `/api/configs/${id}/attachments/certificate`, {
      raw: 'abc',
      contentType: 'text/plain',
    })
    const one = await admin.call('GET', `/api/configs/${id}`)
    expect(one.body.config.apiKey).toBe(SECRET_MASK)
    expect(one.body.attachments).toEqual([
      { key: 'certificate', contentType: 'text/plain', fileName: 'certificate', bytes: 3 },
    ])
    const missing = await admin.call('GET', '/api/configs/77')
    expect(missing.status).toBe(404)
    expect(missing.body.error).toBe('no plugin config with id 77: GET /api/configs lists them')
  })

  it('merges PATCHed values, keeping a secret sent masked or left out, and clearing one sent empty', async () => {
    const { admin, id } = await withConfig({ apiKey: SECRET, greeting: 'hey' })
    const masked = await admin.call('PATCH', `/api/configs/${id}`, {
      json: { config: { apiKey: SECRET_MASK, mode: 'slow' }, order: 5, enabled: false },
    })
    expect(masked.status).toBe(200)
    expect(masked.body).toMatchObject({ enabled: false, order: 5, revision: 2 })
    expect((await admin.registry.getConfig(id))?.config).toEqual({
      apiKey: SECRET,
      greeting: 'hey',
      mode: 'slow',
    })
    await admin.call('PATCH', `/api/configs/${id}`, { json: { config: { greeting: null } } })
    expect((await admin.registry.getConfig(id))?.config).toMatchObject({ apiKey: SECRET, greeting: 'hi' })
    await admin.call('PATCH', `/api/configs/${id}`, { json: { config: { apiKey: 'sk_new' } } })
    expect((await admin.registry.getConfig(id))?.config.apiKey).toBe('sk_new')
    const cleared = await admin.call('PATCH', `/api/configs/${id}`, {
      json: { enabled: true, config: { apiKey: '', mode: 'fast' } },
    })
    expect(cleared.status).toBe(400)
    expect(cleared.body.problems).toEqual([{ field: 'apiKey', message: 'is required' }])
  })

  it('enabling clears the error a disabled config was left with', async () => {
    const { admin, id } = await withConfig()
    await admin.registry.updateConfig(id, {
      enabled: false,
      error: { message: 'setupPlugin failed', time: 1 },
    })
    const enabled = await admin.call('PATCH', `/api/configs/${id}`, { json: { enabled: true } })
    expect(enabled.body).toMatchObject({ enabled: true, error: null })
  })

  it('deletes a config and announces every change', async () => {
    const { admin, id } = await withConfig()
    expect(admin.announcements.length).toBe(1)
    await admin.call('PATCH', `/api/configs/${id}`, { json: { order: 1 } })
    await admin.call('PUT', `/api/configs/${id}/attachments/certificate`, { raw: 'x' })
    await admin.call('DELETE', `/api/configs/${id}/attachments/certificate`)
    expect((await admin.call('DELETE', `/api/configs/${id}`)).status).toBe(204)
    expect(await admin.registry.getConfig(id)).toBeNull()
    expect(admin.announcements.length).toBe(5)
    expect((await admin.call('PATCH', `/api/configs/${id}`, { json: {} })).status).toBe(404)
  })

  it('shows the live status on this instance when the config manager is given', async () => {
    const admin = createAdminHarness({
      configs: {
        get: (id) => (id === 1 ? { status: 'ready', revision: 1, pluginVersion: 'v1' } : undefined),
      },
    })
    const pluginId = await admin.installPlugin()
    await admin.call('POST', '/api/configs', { json: { pluginId, teamId: 2, config: { apiKey: 'k' } } })
    await admin.call('POST', '/api/configs', { json: { pluginId, teamId: 2, config: { apiKey: 'k' } } })
    const list = (await admin.call('GET', '/api/configs')).body.configs
    expect(list.map((config: { live: unknown }) => config.live)).toEqual([
      { status: 'ready', revision: 1, pluginVersion: 'v1' },
      { status: 'not-loaded' },
    ])
  })
})

describe('attachments', () => {
  it('stores an upload for an attachment field, lists metadata only, and deletes it', async () => {
    const { admin, id } = await withConfig()
    await admin.call('PUT', `/api/configs/${id}/attachments/certificate?fileName=c.bin`, {
      raw: new Uint8Array([0, 1, 2, 255]),
      contentType: 'application/octet-stream',
    })
    const [stored] = await admin.registry.listAttachments(id)
    expect([...(stored?.contents ?? [])]).toEqual([0, 1, 2, 255])
    const list = await admin.call('GET', `/api/configs/${id}/attachments`)
    expect(list.body).toEqual({
      attachments: [
        { key: 'certificate', contentType: 'application/octet-stream', fileName: 'c.bin', bytes: 4 },
      ],
    })
    expect((await admin.call('DELETE', `/api/configs/${id}/attachments/certificate`)).status).toBe(204)
    const again = await admin.call('DELETE', `/api/configs/${id}/attachments/certificate`)
    expect(again.status).toBe(404)
    expect(again.body.error).toBe(
      `plugin config ${id} has no attachment certificate: GET /api/configs/${id}/attachments lists them`,
    )
  })

  it('refuses keys that are not attachment fields, and uploads over the limit', async () => {
    const admin = createAdminHarness({ maxAttachmentBytes: 8 })
    const pluginId = await admin.installPlugin()
    const { body } = await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 2, config: { apiKey: 'k' } },
    })
    const wrong = await admin.call('PUT', `/api/configs/${body.id}/attachments/apiKey`, { raw: 'x' })
    expect(wrong.status).toBe(400)
    expect(wrong.body.error).toBe(
      'apiKey is not an attachment field of plugin hello: its attachment fields are certificate',
    )
    const big = await admin.call('PUT', `/api/configs/${body.id}/attachments/certificate`, {
      raw: 'x'.repeat(9),
    })
    expect(big.status).toBe(413)
    expect(big.body.error).toBe('the attachment is larger than 8 bytes, the limit for an attachment')
  })
})

describe('secrets', () => {
  it('never appear in any response of a session that sets, changes and reads them', async () => {
    const { admin, pluginId, id } = await withConfig({ apiKey: SECRET })
    await admin.call('GET', `/api/configs/${id}`)
    await admin.call('GET', '/api/configs')
    await admin.call('PATCH', `/api/configs/${id}`, { json: { config: { greeting: 'yo' } } })
    await admin.call('PATCH', `/api/configs/${id}`, {
      json: { config: { apiKey: `${SECRET}-2`, mode: 'nope' } },
    })
    await admin.call('POST', '/api/configs', {
      json: { pluginId, teamId: 5, config: { apiKey: SECRET, extra: SECRET } },
    })
    await admin.call('GET', `/api/plugins/${pluginId}?files=1`)
    expect((await admin.registry.getConfig(id))?.config.apiKey).toBe(SECRET)
    expect(admin.transcript.length).toBeGreaterThan(6)
    for (const text of admin.transcript) expect(text).not.toContain(SECRET)
  })

  it('are all masked when the stored plugin.json no longer parses, since which fields are secret is unknown', async () => {
    const admin = createAdminHarness()
    const plugin = await admin.registry.createPlugin({
      name: 'broken',
      version: 'v0',
      files: { 'plugin.json': '{' },
    })
    const config = await admin.registry.createConfig({
      pluginId: plugin.id,
      teamId: 2,
      enabled: true,
      order: 0,
      config: { apiKey: SECRET, greeting: 'hi' },
    })
    const shown = await admin.call('GET', `/api/configs/${config.id}`)
    expect(shown.body.config).toEqual({ apiKey: SECRET_MASK, greeting: SECRET_MASK })
    expect((await admin.call('GET', '/api/plugins')).body.plugins[0].configSchema).toBeNull()
    const patch = await admin.call('PATCH', `/api/configs/${config.id}`, { json: { order: 1 } })
    expect(patch.status).toBe(409)
    expect(patch.body.error).toBe(
      `the stored plugin.json of plugin ${plugin.id} does not parse: reinstall it with PUT /api/plugins/${plugin.id}`,
    )
    for (const text of admin.transcript) expect(text).not.toContain(SECRET)
  })
})
