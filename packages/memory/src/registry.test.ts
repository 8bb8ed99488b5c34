import { describeRegistryConformance } from '@sluice/conformance'
import { createManualClock, type NewPlugin, type PluginConfigError, RegistryError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryRegistry } from './registry.js'

describeRegistryConformance('memory', ({ time }) => createMemoryRegistry({ clock: time.clock }), {})

const plugin = (): NewPlugin => ({
  name: 'hello',
  version: 'v1',
  files: { 'plugin.json': '{"name":"hello"}', 'index.js': 'export {}' },
})

describe('createMemoryRegistry', () => {
  it('stamps records from the injected clock', async () => {
    const clock = createManualClock(5000)
    const registry = createMemoryRegistry({ clock })
    const created = await registry.createPlugin(plugin())
    clock.advance(250)
    const updated = await registry.updatePlugin(created.id, plugin())
    expect([created.createdAt, updated.createdAt, updated.updatedAt]).toEqual([5000, 5000, 5250])
  })

  it('objects passed in are copied: changing them later does not change stored records', async () => {
    const registry = createMemoryRegistry()
    const input = plugin()
    const stored = await registry.createPlugin(input)
    ;(input.files as Record<string, string>)['index.js'] = 'changed'
    const config = { nested: { list: [1] } }
    const created = await registry.createConfig({
      pluginId: stored.id,
      teamId: 1,
      enabled: true,
      order: 0,
      config,
    })
    config.nested.list.push(2)
    const error: PluginConfigError = { message: 'failed', time: 1 }
    await registry.updateConfig(created.id, { error })
    error.message = 'changed'
    const contents = new Uint8Array([1, 2, 3])
    await registry.putAttachment({
      configId: created.id,
      key: 'f',
      contentType: 't',
      fileName: 'f',
      contents,
    })
    contents[0] = 99

    expect((await registry.getPlugin(stored.id))?.files['index.js']).toBe('export {}')
    expect((await registry.getConfig(created.id))?.config).toEqual({ nested: { list: [1] } })
    expect((await registry.getConfig(created.id))?.error?.message).toBe('failed')
    expect(Array.from((await registry.listAttachments(created.id))[0]?.contents ?? [])).toEqual([1, 2, 3])
  })

  it('objects returned are copies: changing them does not change stored records', async () => {
    const registry = createMemoryRegistry()
    const stored = await registry.createPlugin(plugin())
    const created = await registry.createConfig({
      pluginId: stored.id,
      teamId: 1,
      enabled: true,
      order: 0,
      config: { nested: { list: [1] } },
    })
    await registry.updateConfig(created.id, { error: { message: 'failed', time: 1 } })
    await registry.putAttachment({
      configId: created.id,
      key: 'f',
      contentType: 't',
      fileName: 'f',
      contents: new Uint8Array([1, 2, 3]),
    })

    for (const returned of [stored, await registry.getPlugin(stored.id), (await registry.listPlugins())[0]]) {
      if (!returned) throw new Error('plugin missing')
      returned.name = 'changed'
      ;(returned.files as Record<string, string>)['index.js'] = 'changed'
    }
    for (const returned of [await registry.getConfig(created.id), (await registry.listConfigs())[0]]) {
      if (!returned) throw new Error('config missing')
      returned.enabled = false
      ;(returned.config as { nested: { list: number[] } }).nested.list.push(2)
      if (returned.error) returned.error.message = 'changed'
    }
    const [attachment] = await registry.listAttachments(created.id)
    if (!attachment) throw new Error('attachment missing')
    attachment.contents[0] = 99

    expect(await registry.getPlugin(stored.id)).toMatchObject({ name: 'hello', files: plugin().files })
    expect(await registry.getConfig(created.id)).toMatchObject({
      enabled: true,
      config: { nested: { list: [1] } },
      error: { message: 'failed' },
    })
    expect(Array.from((await registry.listAttachments(created.id))[0]?.contents ?? [])).toEqual([1, 2, 3])
  })

  it('a config that is not JSON-serialisable rejects with a non-retryable RegistryError', async () => {
    const registry = createMemoryRegistry()
    const { id } = await registry.createPlugin(plugin())
    const circular: Record<string, unknown> = {}
    circular.self = circular
    for (const config of [circular, { big: 1n }]) {
      const error = await registry
        .createConfig({ pluginId: id, teamId: 1, enabled: true, order: 0, config })
        .then(
          () => undefined,
          (rejection: unknown) => rejection,
        )
      expect(error).toBeInstanceOf(RegistryError)
      expect(error).toMatchObject({ retryable: false, code: 'registry.invalid_config' })
    }
    expect(await registry.listConfigs()).toEqual([])
  })

  it('missing records are named in the error with a stable code', async () => {
    const registry = createMemoryRegistry()
    await expect(registry.updatePlugin(7, plugin())).rejects.toMatchObject({
      code: 'registry.plugin_not_found',
      message: expect.stringContaining('plugin 7 does not exist'),
    })
    await expect(registry.updateConfig(9, {})).rejects.toMatchObject({
      code: 'registry.config_not_found',
      message: expect.stringContaining('plugin config 9 does not exist'),
    })
  })
})
