import {
  type AttachmentRecord,
  type NewPlugin,
  type NewPluginConfig,
  type PluginConfigRecord,
  type Registry,
  RegistryError,
} from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/** Config values that must round-trip exactly (JSON: no undefined, no NUL characters). */
const TRICKY_CONFIG = {
  text: 'plain',
  empty: '',
  unicode: 'ünïcødé — 日本語 — עברית — 🦔🚀',
  escapes: 'quote " backslash \\ newline \n tab \t',
  integer: 42,
  negative: -7,
  fraction: 0.125,
  large: 9007199254740991,
  yes: true,
  no: false,
  nothing: null,
  list: [1, 'two', { three: [3] }, [], {}],
  nested: { deeper: { deepest: { 'key with spaces': 'v', ключ: 'значение' } } },
  'emoji-key-🦔': 'ok',
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  )
}

function expectNonRetryableRegistryError(error: unknown): void {
  expect(error).toBeInstanceOf(RegistryError)
  expect((error as RegistryError).retryable).toBe(false)
}

/** Comparable view of attachments: sorted by key, contents as plain byte arrays. */
function comparable(attachments: readonly AttachmentRecord[]) {
  return [...attachments]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((a) => {
      expect(a.contents).toBeInstanceOf(Uint8Array)
      return { ...a, contents: Array.from(a.contents) }
    })
}

/**
 * The {@link Registry} conformance suite: plugins, configs and attachments with their
 * referential rules, revisions and exact round-trips. It never assumes an empty registry: it
 * filters results by the ids it created and uses team ids unique to each test.
 * @example
 * describeRegistryConformance('memory', ({ time }) => createMemoryRegistry({ clock: time.clock }), {})
 */
export function describeRegistryConformance<T extends Registry>(
  name: string,
  factory: AdapterFactory<T>,
  _capabilities: Record<string, never>,
  options: SuiteOptions<T> = {},
): void {
  describe(`Registry conformance: ${name}`, { timeout: 15_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let env: SuiteEnv
    let registry: T
    /** A team id no other test uses; `team + 1` is free too. Fits a 32-bit integer column. */
    let team: number

    const newPlugin = (suffix = 'p', files: Record<string, string> = {}): NewPlugin => ({
      name: `${env.namespace}${suffix}`,
      version: `v-${suffix}`,
      files: {
        'plugin.json': JSON.stringify({ name: `${env.namespace}${suffix}` }),
        'index.js': 'export function processEvent(event) { return event }\n',
        ...files,
      },
    })
    const newConfig = (pluginId: number, changes: Partial<NewPluginConfig> = {}): NewPluginConfig => ({
      pluginId,
      teamId: team,
      enabled: true,
      order: 0,
      config: { setting: 'value' },
      ...changes,
    })
    const attachment = (configId: number, key: string, bytes: number[]): AttachmentRecord => ({
      configId,
      key,
      contentType: 'application/octet-stream',
      fileName: `${key}.bin`,
      contents: new Uint8Array(bytes),
    })
    /** An id that certainly does not exist: created, then deleted. */
    const missingPluginId = async () => {
      const plugin = await registry.createPlugin(newPlugin('doomed'))
      await registry.deletePlugin(plugin.id)
      return plugin.id
    }
    const missingConfigId = async () => {
      const plugin = await registry.createPlugin(newPlugin('doomed-config'))
      const config = await registry.createConfig(newConfig(plugin.id))
      await registry.deleteConfig(config.id)
      return config.id
    }
    const ids = (records: readonly { id: number }[], ours: readonly { id: number }[]) => {
      const wanted = new Set(ours.map((record) => record.id))
      return records.filter((record) => wanted.has(record.id)).map((record) => record.id)
    }

    beforeEach(async () => {
      env = harness.begin()
      team = 1_000_000 + Math.floor(Math.random() * 1_000_000_000)
      registry = await harness.create()
    })
    afterEach(() => harness.end())

    describe('plugins', () => {
      it('createPlugin assigns distinct positive integer ids and stamps createdAt = updatedAt', async () => {
        const before = env.time.clock.now()
        const first = await registry.createPlugin(newPlugin('one'))
        const second = await registry.createPlugin(newPlugin('two'))
        const after = env.time.clock.now()
        for (const plugin of [first, second]) {
          expect(Number.isInteger(plugin.id) && plugin.id > 0).toBe(true)
          expect(plugin.createdAt).toBeGreaterThanOrEqual(before)
          expect(plugin.createdAt).toBeLessThanOrEqual(after)
          expect(plugin.updatedAt).toBe(plugin.createdAt)
        }
        expect(second.id).not.toBe(first.id)
        expect(first).toMatchObject(newPlugin('one'))
      })

      it('getPlugin returns the stored plugin with its files exactly; a missing id gives null', async () => {
        const input = newPlugin('p', {
          'lib/nested/util.js': 'export const greeting = "héllo 🦔"\n',
          'README.md': '# Title\n\n\ttabs and "quotes" and \\backslashes\\\n',
          'empty.txt': '',
        })
        const created = await registry.createPlugin(input)
        const fetched = await registry.getPlugin(created.id)
        expect(fetched).toEqual(created)
        expect(fetched?.files).toEqual(input.files)
        expect(await registry.getPlugin(await missingPluginId())).toBeNull()
      })

      it('listPlugins includes every plugin, ordered by id', async () => {
        const created = [
          await registry.createPlugin(newPlugin('a')),
          await registry.createPlugin(newPlugin('b')),
          await registry.createPlugin(newPlugin('c')),
        ]
        const listed = await registry.listPlugins()
        const listedIds = listed.map((plugin) => plugin.id)
        expect(listedIds).toEqual([...listedIds].sort((a, b) => a - b))
        expect(ids(listed, created)).toEqual(created.map((plugin) => plugin.id))
        expect(listed.find((plugin) => plugin.id === created[1]?.id)).toEqual(created[1])
      })

      it('updatePlugin replaces name, version and files, keeps id and createdAt, moves updatedAt', async () => {
        const created = await registry.createPlugin(newPlugin('p', { 'old.js': 'old' }))
        await env.time.advance(20)
        const before = env.time.clock.now()
        const replacement: NewPlugin = {
          name: `${env.namespace}renamed`,
          version: 'v2',
          files: { 'plugin.json': '{"name":"renamed"}', 'new.js': 'new' },
        }
        const updated = await registry.updatePlugin(created.id, replacement)
        expect(updated).toMatchObject({ id: created.id, ...replacement, createdAt: created.createdAt })
        expect(updated.files).toEqual(replacement.files)
        expect(updated.updatedAt).toBeGreaterThanOrEqual(before)
        expect(updated.updatedAt).toBeGreaterThan(created.updatedAt)
        expect(await registry.getPlugin(created.id)).toEqual(updated)
      })

      it('updatePlugin of a missing plugin rejects with a non-retryable RegistryError', async () => {
        expectNonRetryableRegistryError(
          await rejection(registry.updatePlugin(await missingPluginId(), newPlugin())),
        )
      })

      it('deletePlugin removes it and returns true; deleting again returns false', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        expect(await registry.deletePlugin(plugin.id)).toBe(true)
        expect(await registry.getPlugin(plugin.id)).toBeNull()
        expect(ids(await registry.listPlugins(), [plugin])).toEqual([])
        expect(await registry.deletePlugin(plugin.id)).toBe(false)
      })

      it('deletePlugin removes its configs and their attachments, and nothing of other plugins', async () => {
        const doomed = await registry.createPlugin(newPlugin('doomed'))
        const kept = await registry.createPlugin(newPlugin('kept'))
        const doomedConfigs = [
          await registry.createConfig(newConfig(doomed.id)),
          await registry.createConfig(newConfig(doomed.id, { teamId: team + 1 })),
        ]
        const keptConfig = await registry.createConfig(newConfig(kept.id))
        for (const config of [...doomedConfigs, keptConfig]) {
          await registry.putAttachment(attachment(config.id, 'file', [1, 2, 3]))
        }
        expect(await registry.deletePlugin(doomed.id)).toBe(true)
        for (const config of doomedConfigs) {
          expect(await registry.getConfig(config.id)).toBeNull()
          expect(await registry.listAttachments(config.id)).toEqual([])
        }
        expect(await registry.listConfigs({ pluginId: doomed.id })).toEqual([])
        expect(await registry.getPlugin(kept.id)).toEqual(kept)
        expect(await registry.getConfig(keptConfig.id)).not.toBeNull()
        expect(await registry.listAttachments(keptConfig.id)).toHaveLength(1)
      })
    })

    describe('configs', () => {
      it('createConfig assigns an id, starts without error, and stamps createdAt = updatedAt', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const input = newConfig(plugin.id, { enabled: false, order: 3, config: { a: 1 } })
        const before = env.time.clock.now()
        const config = await registry.createConfig(input)
        const after = env.time.clock.now()
        expect(config).toMatchObject({ ...input, error: null })
        expect(Number.isInteger(config.id) && config.id > 0).toBe(true)
        expect(Number.isInteger(config.revision)).toBe(true)
        expect(config.createdAt).toBeGreaterThanOrEqual(before)
        expect(config.createdAt).toBeLessThanOrEqual(after)
        expect(config.updatedAt).toBe(config.createdAt)
        expect(await registry.getConfig(config.id)).toEqual(config)
      })

      it('createConfig for a missing plugin rejects with a non-retryable RegistryError and creates nothing', async () => {
        const error = await rejection(registry.createConfig(newConfig(await missingPluginId())))
        expectNonRetryableRegistryError(error)
        expect(await registry.listConfigs({ teamId: team })).toEqual([])
      })

      it('getConfig of a missing id is null', async () => {
        expect(await registry.getConfig(await missingConfigId())).toBeNull()
      })

      it('updateConfig applies only the given changes and increments revision by 1 each time', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const created = await registry.createConfig(newConfig(plugin.id, { order: 1, config: { a: 1 } }))
        await env.time.advance(20)
        const before = env.time.clock.now()
        const disabled = await registry.updateConfig(created.id, { enabled: false })
        expect(disabled).toEqual({
          ...created,
          enabled: false,
          revision: created.revision + 1,
          updatedAt: disabled.updatedAt,
        })
        expect(disabled.updatedAt).toBeGreaterThanOrEqual(before)
        expect(disabled.updatedAt).toBeGreaterThan(created.updatedAt)
        const reordered = await registry.updateConfig(created.id, { order: -5 })
        expect(reordered).toMatchObject({
          enabled: false,
          order: -5,
          config: { a: 1 },
          revision: created.revision + 2,
        })
        expect(reordered.createdAt).toBe(created.createdAt)
        expect(await registry.getConfig(created.id)).toEqual(reordered)
      })

      it('updateConfig with no changes still increments revision', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const created = await registry.createConfig(newConfig(plugin.id))
        expect((await registry.updateConfig(created.id, {})).revision).toBe(created.revision + 1)
      })

      it('updateConfig replaces the whole config object', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const created = await registry.createConfig(newConfig(plugin.id, { config: { a: 1, b: 2 } }))
        const updated = await registry.updateConfig(created.id, { config: { b: 3 } })
        expect(updated.config).toEqual({ b: 3 })
        expect((await registry.getConfig(created.id))?.config).toEqual({ b: 3 })
      })

      it('updateConfig sets and clears the error', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const created = await registry.createConfig(newConfig(plugin.id))
        const error = {
          message: 'setupPlugin failed: ünïcødé',
          time: Date.UTC(2026, 0, 2),
          source: 'setupPlugin',
        }
        expect((await registry.updateConfig(created.id, { error })).error).toEqual(error)
        expect((await registry.getConfig(created.id))?.error).toEqual(error)
        const withoutSource = { message: 'no source', time: Date.UTC(2026, 0, 3) }
        expect((await registry.updateConfig(created.id, { error: withoutSource })).error).toEqual(
          withoutSource,
        )
        expect((await registry.updateConfig(created.id, { error: null })).error).toBeNull()
        expect((await registry.getConfig(created.id))?.error).toBeNull()
      })

      it('updateConfig of a missing config rejects with a non-retryable RegistryError', async () => {
        expectNonRetryableRegistryError(
          await rejection(registry.updateConfig(await missingConfigId(), { enabled: false })),
        )
      })

      it('config values round-trip exactly through create, get, list and update', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const created = await registry.createConfig(newConfig(plugin.id, { config: TRICKY_CONFIG }))
        expect(created.config).toEqual(TRICKY_CONFIG)
        expect((await registry.getConfig(created.id))?.config).toEqual(TRICKY_CONFIG)
        expect((await registry.listConfigs({ teamId: team }))[0]?.config).toEqual(TRICKY_CONFIG)
        const changed = { ...TRICKY_CONFIG, unicode: '🦔 changed' }
        expect((await registry.updateConfig(created.id, { config: changed })).config).toEqual(changed)
        expect((await registry.getConfig(created.id))?.config).toEqual(changed)
      })

      it('listConfigs orders by team, then order, then id', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const create = (teamId: number, order: number) =>
          registry.createConfig(newConfig(plugin.id, { teamId, order }))
        const laterTeamHigh = await create(team + 1, 0)
        const high = await create(team, 5)
        const tieFirst = await create(team, 1)
        const tieSecond = await create(team, 1)
        const laterTeamLow = await create(team + 1, -1)
        const ours = [laterTeamHigh, high, tieFirst, tieSecond, laterTeamLow]
        expect(ids(await registry.listConfigs(), ours)).toEqual(
          [tieFirst, tieSecond, high, laterTeamLow, laterTeamHigh].map((config) => config.id),
        )
      })

      it('listConfigs filters by team, plugin and enabled, all given filters at once', async () => {
        const p1 = await registry.createPlugin(newPlugin('p1'))
        const p2 = await registry.createPlugin(newPlugin('p2'))
        const a = await registry.createConfig(newConfig(p1.id, { order: 0 }))
        const b = await registry.createConfig(newConfig(p2.id, { order: 1, enabled: false }))
        const c = await registry.createConfig(newConfig(p1.id, { order: 2, enabled: false }))
        const d = await registry.createConfig(newConfig(p1.id, { teamId: team + 1 }))
        const idsOf = (configs: readonly PluginConfigRecord[]) => configs.map((config) => config.id)

        expect(idsOf(await registry.listConfigs({ teamId: team }))).toEqual([a.id, b.id, c.id])
        expect(idsOf(await registry.listConfigs({ pluginId: p1.id }))).toEqual([a.id, c.id, d.id])
        expect(idsOf(await registry.listConfigs({ teamId: team, enabled: false }))).toEqual([b.id, c.id])
        expect(idsOf(await registry.listConfigs({ teamId: team, pluginId: p1.id, enabled: false }))).toEqual([
          c.id,
        ])
        expect(idsOf(await registry.listConfigs({ teamId: team + 1, pluginId: p2.id }))).toEqual([])
        const enabled = await registry.listConfigs({ enabled: true })
        expect(enabled.every((config) => config.enabled)).toBe(true)
        expect(ids(enabled, [a, b, c, d])).toEqual([a.id, d.id])
        expect((await registry.listConfigs({ teamId: team }))[1]).toEqual(b)
      })

      it('deleteConfig removes the config and its attachments, keeps the plugin, and is false the second time', async () => {
        const plugin = await registry.createPlugin(newPlugin())
        const config = await registry.createConfig(newConfig(plugin.id))
        await registry.putAttachment(attachment(config.id, 'file', [1]))
        expect(await registry.deleteConfig(config.id)).toBe(true)
        expect(await registry.getConfig(config.id)).toBeNull()
        expect(await registry.listConfigs({ teamId: team })).toEqual([])
        expect(await registry.listAttachments(config.id)).toEqual([])
        expect(await registry.getPlugin(plugin.id)).toEqual(plugin)
        expect(await registry.deleteConfig(config.id)).toBe(false)
      })
    })

    describe('attachments', () => {
      const setup = async () => {
        const plugin = await registry.createPlugin(newPlugin())
        return registry.createConfig(newConfig(plugin.id))
      }
      const revisionOf = async (configId: number) => (await registry.getConfig(configId))?.revision

      it('putAttachment stores contents byte-exact and increments the config revision', async () => {
        const config = await setup()
        const everyByte = Array.from({ length: 256 }, (_, i) => i)
        const binary = attachment(config.id, 'binary', [...everyByte, ...everyByte.toReversed()])
        const text: AttachmentRecord = {
          configId: config.id,
          key: 'text',
          contentType: 'text/csv; charset=utf-8',
          fileName: 'dätä 🦔.csv',
          contents: new TextEncoder().encode('a,b\nü,🦔\n'),
        }
        const empty = attachment(config.id, 'empty', [])
        await registry.putAttachment(binary)
        expect(await revisionOf(config.id)).toBe(config.revision + 1)
        await registry.putAttachment(text)
        await registry.putAttachment(empty)
        expect(await revisionOf(config.id)).toBe(config.revision + 3)
        expect(comparable(await registry.listAttachments(config.id))).toEqual(
          comparable([binary, empty, text]),
        )
      })

      it('putAttachment with an existing key replaces it and increments the revision', async () => {
        const config = await setup()
        await registry.putAttachment(attachment(config.id, 'file', [1, 2, 3]))
        const replacement: AttachmentRecord = {
          configId: config.id,
          key: 'file',
          contentType: 'text/plain',
          fileName: 'new.txt',
          contents: new Uint8Array([9]),
        }
        await registry.putAttachment(replacement)
        expect(comparable(await registry.listAttachments(config.id))).toEqual(comparable([replacement]))
        expect(await revisionOf(config.id)).toBe(config.revision + 2)
      })

      it('attachments belong to one config', async () => {
        const first = await setup()
        const second = await setup()
        await registry.putAttachment(attachment(first.id, 'file', [1]))
        expect(await registry.listAttachments(second.id)).toEqual([])
        expect(await registry.deleteAttachment(second.id, 'file')).toBe(false)
        expect(await registry.listAttachments(first.id)).toHaveLength(1)
      })

      it('putAttachment for a missing config rejects with a non-retryable RegistryError', async () => {
        const configId = await missingConfigId()
        expectNonRetryableRegistryError(
          await rejection(registry.putAttachment(attachment(configId, 'f', [1]))),
        )
        expect(await registry.listAttachments(configId)).toEqual([])
      })

      it('deleteAttachment removes it and increments the revision; a missing key is false and changes nothing', async () => {
        const config = await setup()
        await registry.putAttachment(attachment(config.id, 'gone', [1]))
        await registry.putAttachment(attachment(config.id, 'kept', [2]))
        const revision = config.revision + 2
        expect(await registry.deleteAttachment(config.id, 'gone')).toBe(true)
        expect(await revisionOf(config.id)).toBe(revision + 1)
        expect(comparable(await registry.listAttachments(config.id))).toEqual(
          comparable([attachment(config.id, 'kept', [2])]),
        )
        expect(await registry.deleteAttachment(config.id, 'gone')).toBe(false)
        expect(await revisionOf(config.id)).toBe(revision + 1)
      })

      it('listAttachments of a config without attachments is empty', async () => {
        const config = await setup()
        expect(await registry.listAttachments(config.id)).toEqual([])
      })
    })
  })
}
