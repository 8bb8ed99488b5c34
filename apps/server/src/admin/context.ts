// What every admin route shares: the injected ports, record look-ups that answer 404, the parsed
// manifest of a stored plugin, and the views that keep secrets out of responses.
import {
  type DeadLetterStore,
  type HealthWatcher,
  type JobQueue,
  type LiveConfig,
  type LogSink,
  type MetricsSink,
  maskSecrets,
  type PluginConfigRecord,
  type PluginManifest,
  type PluginRecord,
  parsePluginManifest,
  type Registry,
  SECRET_MASK,
  validatePluginConfig,
} from '@sluice/core'
import type { PluginFilesLimits } from '@sluice/plugin-files'
import { HttpError } from '../http/types.js'
import { pathId } from './input.js'

/** What became of one dead letter asked to be replayed (core's `ReplayOutcome`). */
export interface DeadLetterReplayOutcome {
  id: string
  status: string
  reason?: string
}

/** The health watcher as the admin API drives it (core's `HealthWatcher` fits). */
export type ConfigHealthControl = Pick<HealthWatcher, 'get' | 'reset' | 'pause'>

/** Options of {@link createAdminRoutes}: the ports and functions the admin API works on, composed by the app. */
export interface AdminApiOptions {
  /**
   * Whether a presented bearer token is the admin token; must compare in constant time (the
   * server's `loadAdminToken` does).
   */
  verifyToken(presented: string): boolean
  /**
   * Appended to the 401 message to tell an operator where the token comes from.
   * @default 'the token is the server setting SLUICE_ADMIN_TOKEN'
   */
  tokenHint?: string
  registry: Registry
  logSink: LogSink
  metricsSink: MetricsSink
  deadLetters: DeadLetterStore
  /** Where `POST /api/configs/:id/jobs/:name` enqueues the plugin job. */
  jobQueue: JobQueue
  /** Tells every instance to reload changed configs; called after every change. */
  announceConfigChange(): Promise<void>
  /** This instance's live configs (`runtime.configs`): adds each config's load status to responses. */
  configs?: { get(configId: number): Pick<LiveConfig, 'status' | 'revision' | 'pluginVersion'> | undefined }
  /** Puts dead letters back where they came from (`runtime.replayDeadLetters`); without it replay answers 501. */
  replayDeadLetters?(ids: readonly string[]): Promise<{ results: readonly DeadLetterReplayOutcome[] }>
  /** The health watcher; without it the health endpoints answer 501. */
  health?: ConfigHealthControl
  /** Limits on an installed plugin's files (see `@sluice/plugin-files`). */
  pluginLimits?: PluginFilesLimits
  /**
   * Largest attachment upload.
   * @default 16777216 (16 MB)
   */
  maxAttachmentBytes?: number
  /**
   * The current time in epoch ms (when a triggered job is due).
   * @default Date.now
   */
  now?: () => number
}

/** The options and helpers every route builder gets. */
export interface AdminContext {
  readonly options: AdminApiOptions
  now(): number
  /** The plugin of a path id, or a 404 naming it. */
  requirePlugin(id: string | undefined): Promise<PluginRecord>
  /** The config of a path id with its plugin, or a 404 naming it. */
  requireConfig(id: string | undefined): Promise<{ config: PluginConfigRecord; plugin: PluginRecord }>
  /** The stored plugin's manifest; a 409 when its plugin.json no longer parses. */
  manifestOf(plugin: PluginRecord): PluginManifest
  /** Announces a change to every instance. */
  changed(): Promise<void>
}

/** Creates the shared context of the admin routes. */
export function createAdminContext(options: AdminApiOptions): AdminContext {
  const { registry } = options
  const requirePlugin = async (id: string | undefined) => {
    const pluginId = pathId(id, 'plugin', 'GET /api/plugins')
    const plugin = await registry.getPlugin(pluginId)
    if (!plugin)
      throw new HttpError(404, `no plugin with id ${pluginId}: GET /api/plugins lists the installed ones`)
    return plugin
  }

  return {
    options,
    now: options.now ?? Date.now,
    requirePlugin,
    async requireConfig(id) {
      const configId = pathId(id, 'config', 'GET /api/configs')
      const config = await registry.getConfig(configId)
      const plugin = config && (await registry.getPlugin(config.pluginId))
      if (!config || !plugin) {
        throw new HttpError(404, `no plugin config with id ${configId}: GET /api/configs lists them`)
      }
      return { config, plugin }
    },
    manifestOf(plugin) {
      const manifest = manifestOrNull(plugin)
      if (!manifest) {
        throw new HttpError(
          409,
          `the stored plugin.json of plugin ${plugin.id} does not parse: reinstall it with PUT /api/plugins/${plugin.id}`,
        )
      }
      return manifest
    },
    changed: () => options.announceConfigChange(),
  }
}

/**
 * A plugin as responses show it: manifest details and file names, the source only on request.
 * `manifest` is null when the stored plugin.json does not parse.
 */
export function pluginView(plugin: PluginRecord, manifest: PluginManifest | null, withSources = false) {
  return {
    id: plugin.id,
    name: plugin.name,
    version: plugin.version,
    description: manifest?.description ?? null,
    url: manifest?.url ?? null,
    main: manifest?.main ?? null,
    configSchema: manifest?.config ?? null,
    publicJobs: manifest?.publicJobs ?? {},
    files: Object.keys(plugin.files).sort(),
    ...(withSources ? { sources: plugin.files } : {}),
    createdAt: plugin.createdAt,
    updatedAt: plugin.updatedAt,
  }
}

/**
 * A config as responses show it: secrets masked. When the plugin.json does not parse, which fields
 * are secret is unknown, so every value is masked.
 */
export function configView(
  context: AdminContext,
  config: PluginConfigRecord,
  plugin: PluginRecord,
  manifest: PluginManifest | null,
) {
  const live = context.options.configs?.get(config.id)
  return {
    id: config.id,
    pluginId: config.pluginId,
    pluginName: plugin.name,
    teamId: config.teamId,
    enabled: config.enabled,
    order: config.order,
    config: manifest
      ? maskSecrets(manifest.config, config.config)
      : Object.fromEntries(Object.keys(config.config).map((key) => [key, SECRET_MASK])),
    error: config.error,
    revision: config.revision,
    ...(context.options.configs
      ? {
          live: live
            ? { status: live.status, revision: live.revision, pluginVersion: live.pluginVersion }
            : { status: 'not-loaded' },
        }
      : {}),
    createdAt: config.createdAt,
    updatedAt: config.updatedAt,
  }
}

/** The stored plugin's manifest, or null when its plugin.json does not parse (for views that must not fail). */
export function manifestOrNull(plugin: PluginRecord): PluginManifest | null {
  try {
    return parsePluginManifest(plugin.files['plugin.json'] ?? '')
  } catch {
    return null
  }
}

/** The keys of a schema's attachment fields. */
export const attachmentFieldKeys = (manifest: PluginManifest): string[] =>
  manifest.config.flatMap((field) =>
    field.type === 'attachment' && field.key !== undefined ? [field.key] : [],
  )

/**
 * Validates a config for saving. A disabled config may wait for its required attachments (they can
 * only be uploaded once the config exists); enabling it checks them.
 */
export function validateConfigForSave(
  manifest: PluginManifest,
  input: Readonly<Record<string, unknown>>,
  enabled: boolean,
  storedAttachmentKeys: readonly string[],
): Record<string, unknown> {
  const attachmentKeys = enabled ? storedAttachmentKeys : attachmentFieldKeys(manifest)
  const result = validatePluginConfig(manifest.config, input, { attachmentKeys })
  if (result.ok) return result.config
  const missingFile = result.problems.some((problem) => problem.message === 'is required: upload a file')
  throw new HttpError(
    400,
    `the config for plugin ${manifest.name} is invalid: ${result.problems
      .map((problem) => `${problem.field}: ${problem.message}`)
      .join('; ')}${
      missingFile
        ? ' (save the config with "enabled": false, upload the file to /api/configs/:id/attachments/:key, then enable it)'
        : ''
    }`,
    { problems: result.problems },
  )
}
