/** A stored plugin: its source files at one version. */
export interface PluginRecord {
  id: number
  /** From plugin.json. */
  name: string
  /** Identifies the source: changes whenever any file changes (a content hash). */
  version: string
  /** Path (POSIX, relative to the plugin root) → text. Includes `plugin.json`. */
  files: Readonly<Record<string, string>>
  createdAt: number
  updatedAt: number
}

/** What `createPlugin` needs. */
export type NewPlugin = Pick<PluginRecord, 'name' | 'version' | 'files'>

/** Why a config is not running, as shown to the operator. */
export interface PluginConfigError {
  message: string
  /** Epoch ms. */
  time: number
  /** The function that failed, e.g. `setupPlugin`. */
  source?: string
}

/** One plugin installed for one team, with its settings. */
export interface PluginConfigRecord {
  id: number
  pluginId: number
  teamId: number
  enabled: boolean
  /** Position in the team's processEvent chain; lower runs first (ties by id). */
  order: number
  /** Validated values, secrets included; never returned to clients unmasked. */
  config: Readonly<Record<string, unknown>>
  error: PluginConfigError | null
  /** 1 on creation, incremented by every update (even an empty one): lets instances reload only what changed. */
  revision: number
  createdAt: number
  updatedAt: number
}

/** What `createConfig` needs. */
export type NewPluginConfig = Pick<PluginConfigRecord, 'pluginId' | 'teamId' | 'enabled' | 'order' | 'config'>

/** Fields `updateConfig` may change. */
export type PluginConfigChanges = Partial<Pick<PluginConfigRecord, 'enabled' | 'order' | 'config' | 'error'>>

/** A file attached to a plugin config (`meta.attachments[key]`). */
export interface AttachmentRecord {
  configId: number
  key: string
  contentType: string
  fileName: string
  contents: Uint8Array
}

/** Filters for `listConfigs`; all given ones must match. */
export interface ConfigFilter {
  teamId?: number
  pluginId?: number
  enabled?: boolean
}

/**
 * Port: plugins, their configs per team, and attachments. Missing records are `null`/`false`;
 * referential problems (a config for a missing plugin) reject with a non-retryable `RegistryError`.
 */
export interface Registry {
  createPlugin(plugin: NewPlugin): Promise<PluginRecord>
  /**
   * Replaces name, version and files; rejects if the plugin does not exist. Config revisions are
   * not bumped: instances notice the new `version` themselves.
   */
  updatePlugin(id: number, plugin: NewPlugin): Promise<PluginRecord>
  getPlugin(id: number): Promise<PluginRecord | null>
  /** Every plugin, by id. */
  listPlugins(): Promise<PluginRecord[]>
  /** Removes the plugin with its configs and their attachments. */
  deletePlugin(id: number): Promise<boolean>

  /** Rejects if the plugin does not exist. */
  createConfig(config: NewPluginConfig): Promise<PluginConfigRecord>
  /** Applies the changes and increments `revision`; rejects if the config does not exist. */
  updateConfig(id: number, changes: PluginConfigChanges): Promise<PluginConfigRecord>
  getConfig(id: number): Promise<PluginConfigRecord | null>
  /** Matching configs ordered by team, then `order`, then id. */
  listConfigs(filter?: ConfigFilter): Promise<PluginConfigRecord[]>
  /** Removes the config and its attachments. */
  deleteConfig(id: number): Promise<boolean>

  /** Creates or replaces the attachment `key` of a config, and increments the config's revision. */
  putAttachment(attachment: AttachmentRecord): Promise<void>
  /** Ordered by key. */
  listAttachments(configId: number): Promise<AttachmentRecord[]>
  /** Increments the config's revision when something was removed. */
  deleteAttachment(configId: number, key: string): Promise<boolean>
}
