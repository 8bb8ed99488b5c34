import {
  type AttachmentRecord,
  type Clock,
  type NewPlugin,
  type PluginConfigError,
  type PluginConfigRecord,
  type PluginRecord,
  type Registry,
  RegistryError,
} from '@sluice/core'
import { createSystemClock } from './clock.js'

/** Options of {@link createMemoryRegistry}. */
export interface MemoryRegistryOptions {
  /**
   * Stamps `createdAt` and `updatedAt`.
   * @default createSystemClock()
   */
  clock?: Clock
}

/**
 * Creates a {@link Registry} in process memory. Records go in and come out as copies, so callers
 * can never change stored state through an object they passed in or got back. Config values are
 * copied through JSON, exactly as a database's JSON column would store them.
 * @example
 * const registry = createMemoryRegistry({ clock })
 * const plugin = await registry.createPlugin({ name: 'hello', version: 'abc123', files })
 * await registry.createConfig({ pluginId: plugin.id, teamId: 2, enabled: true, order: 0, config: {} })
 */
export function createMemoryRegistry(options: MemoryRegistryOptions = {}): Registry {
  const clock = options.clock ?? createSystemClock()
  const plugins = new Map<number, PluginRecord>()
  const configs = new Map<number, PluginConfigRecord>()
  const attachments = new Map<number, Map<string, AttachmentRecord>>()
  let nextPluginId = 1
  let nextConfigId = 1

  const requireConfig = (id: number, operation: string): PluginConfigRecord => {
    const config = configs.get(id)
    if (!config) {
      throw new RegistryError(
        `${operation}: plugin config ${id} does not exist — list configs for valid ids`,
        {
          retryable: false,
          code: 'registry.config_not_found',
        },
      )
    }
    return config
  }

  const requirePlugin = (id: number, operation: string): PluginRecord => {
    const plugin = plugins.get(id)
    if (!plugin) {
      throw new RegistryError(`${operation}: plugin ${id} does not exist — list plugins for valid ids`, {
        retryable: false,
        code: 'registry.plugin_not_found',
      })
    }
    return plugin
  }

  const bumpRevision = (config: PluginConfigRecord) => {
    configs.set(config.id, { ...config, revision: config.revision + 1, updatedAt: clock.now() })
  }

  const removeConfig = (id: number) => {
    configs.delete(id)
    attachments.delete(id)
  }

  return {
    async createPlugin(plugin) {
      const now = clock.now()
      const record: PluginRecord = {
        id: nextPluginId++,
        ...pluginFields(plugin),
        createdAt: now,
        updatedAt: now,
      }
      plugins.set(record.id, record)
      return copyPlugin(record)
    },

    async updatePlugin(id, plugin) {
      const existing = requirePlugin(id, 'updatePlugin')
      const record: PluginRecord = { ...existing, ...pluginFields(plugin), updatedAt: clock.now() }
      plugins.set(id, record)
      return copyPlugin(record)
    },

    async getPlugin(id) {
      const plugin = plugins.get(id)
      return plugin ? copyPlugin(plugin) : null
    },

    async listPlugins() {
      return [...plugins.values()].sort((a, b) => a.id - b.id).map(copyPlugin)
    },

    async deletePlugin(id) {
      if (!plugins.delete(id)) return false
      for (const config of configs.values()) if (config.pluginId === id) removeConfig(config.id)
      return true
    },

    async createConfig(config) {
      requirePlugin(config.pluginId, 'createConfig')
      const now = clock.now()
      const record: PluginConfigRecord = {
        id: nextConfigId++,
        pluginId: config.pluginId,
        teamId: config.teamId,
        enabled: config.enabled,
        order: config.order,
        config: copyJson(config.config),
        error: null,
        revision: 1,
        createdAt: now,
        updatedAt: now,
      }
      configs.set(record.id, record)
      return copyConfig(record)
    },

    async updateConfig(id, changes) {
      const existing = requireConfig(id, 'updateConfig')
      const record: PluginConfigRecord = {
        ...existing,
        ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
        ...(changes.order === undefined ? {} : { order: changes.order }),
        ...(changes.config === undefined ? {} : { config: copyJson(changes.config) }),
        ...(changes.error === undefined ? {} : { error: copyError(changes.error) }),
        revision: existing.revision + 1,
        updatedAt: clock.now(),
      }
      configs.set(id, record)
      return copyConfig(record)
    },

    async getConfig(id) {
      const config = configs.get(id)
      return config ? copyConfig(config) : null
    },

    async listConfigs(filter = {}) {
      const matching: PluginConfigRecord[] = []
      for (const config of configs.values()) {
        if (filter.teamId !== undefined && config.teamId !== filter.teamId) continue
        if (filter.pluginId !== undefined && config.pluginId !== filter.pluginId) continue
        if (filter.enabled !== undefined && config.enabled !== filter.enabled) continue
        matching.push(config)
      }
      return matching.sort((a, b) => a.teamId - b.teamId || a.order - b.order || a.id - b.id).map(copyConfig)
    },

    async deleteConfig(id) {
      if (!configs.has(id)) return false
      removeConfig(id)
      return true
    },

    async putAttachment(attachment) {
      const config = requireConfig(attachment.configId, 'putAttachment')
      let byKey = attachments.get(config.id)
      if (!byKey) {
        byKey = new Map()
        attachments.set(config.id, byKey)
      }
      byKey.set(attachment.key, copyAttachment(attachment))
      bumpRevision(config)
    },

    async listAttachments(configId) {
      const byKey = attachments.get(configId)
      if (!byKey) return []
      return [...byKey.values()]
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map(copyAttachment)
    },

    async deleteAttachment(configId, key) {
      const byKey = attachments.get(configId)
      if (!byKey?.delete(key)) return false
      if (byKey.size === 0) attachments.delete(configId)
      const config = configs.get(configId)
      if (config) bumpRevision(config)
      return true
    },
  }
}

function pluginFields(plugin: NewPlugin): NewPlugin {
  return { name: plugin.name, version: plugin.version, files: { ...plugin.files } }
}

function copyPlugin(plugin: PluginRecord): PluginRecord {
  return { ...plugin, files: { ...plugin.files } }
}

function copyConfig(config: PluginConfigRecord): PluginConfigRecord {
  return { ...config, config: copyJson(config.config), error: copyError(config.error) }
}

function copyError(error: PluginConfigError | null): PluginConfigError | null {
  return error === null ? null : { ...error }
}

function copyAttachment(attachment: AttachmentRecord): AttachmentRecord {
  return {
    configId: attachment.configId,
    key: attachment.key,
    contentType: attachment.contentType,
    fileName: attachment.fileName,
    contents: new Uint8Array(attachment.contents),
  }
}

function copyJson(value: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw invalidConfig(cause)
  }
  if (text === undefined || !text.startsWith('{')) throw invalidConfig()
  return JSON.parse(text) as Record<string, unknown>
}

function invalidConfig(cause?: unknown): RegistryError {
  return new RegistryError('a plugin config must be a JSON object — pass the validated config values', {
    retryable: false,
    code: 'registry.invalid_config',
    cause,
  })
}
