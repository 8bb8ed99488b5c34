import { validatePluginConfig } from '../config/index.js'
import { describeError, isRetryError, ValidationError } from '../errors.js'
import { type PluginManifest, parsePluginManifest, resolvePluginEntry } from '../manifest/index.js'
import {
  type ExportBufferSettings,
  exportBufferSettings,
  nextRetry,
  SETUP_RETRY_POLICY,
} from '../policy/index.js'
import type { Clock } from '../ports/clock.js'
import type { JobQueue } from '../ports/job-queue.js'
import type { PluginConfigRecord, PluginRecord, Registry } from '../ports/registry.js'
import {
  type HostAttachment,
  type LoadedPlugin,
  PluginCallError,
  type PluginCapabilities,
  type PluginFunctionName,
  type PluginInstance,
  type Sandbox,
} from '../ports/sandbox.js'
import type { HealthWatcher } from './health-watcher.js'
import { observePluginCalls } from './observe-calls.js'
import { createPluginHost, type PluginHostServices } from './plugin-host.js'
import type { Telemetry } from './telemetry.js'

/** Where a live config is in its lifecycle. */
export type LiveConfigStatus = 'setting-up' | 'ready'

/** A plugin config loaded on this instance. */
export interface LiveConfig {
  readonly id: number
  readonly pluginId: number
  readonly pluginName: string
  readonly teamId: number
  readonly order: number
  readonly revision: number
  readonly pluginVersion: string
  /** `"<plugin name> (<config id>)"`, as listed in `$plugins_succeeded` and friends. */
  readonly tag: string
  readonly capabilities: PluginCapabilities
  readonly instance: PluginInstance
  readonly exportSettings: ExportBufferSettings
  /** Whether the plugin exports `fn`. */
  has(fn: PluginFunctionName): boolean
  /** Only `ready` configs receive events, jobs and schedules. */
  status: LiveConfigStatus
}

/** What the config manager needs. */
export interface ConfigManagerOptions {
  clock: Clock
  registry: Registry
  sandbox: Sandbox
  jobQueue: JobQueue
  telemetry: Telemetry
  hostServices: PluginHostServices
  /** Watches every plugin call of the loaded configs; without it nothing is watched. */
  health?: HealthWatcher
  /**
   * Bound on `teardownPlugin`.
   * @default 10000
   */
  teardownTimeoutMs?: number
}

/** Loads, sets up, reloads and tears down the plugin configs of the registry on this instance. */
export interface ConfigManager {
  /** Brings the live configs in line with the registry; only changed configs are reloaded. */
  reconcile(): Promise<void>
  /** Ready configs of a team that transform events, in chain order. */
  chain(teamId: number): readonly LiveConfig[]
  /** Ready configs of a team. */
  teamConfigs(teamId: number): readonly LiveConfig[]
  get(configId: number): LiveConfig | undefined
  all(): readonly LiveConfig[]
  /** Runs `setupPlugin` again for a config waiting on a `RetryError` (`attempt` failures so far). */
  retrySetup(configId: number, revision: number, attempt: number): Promise<void>
  /** Tears every config down. */
  close(): Promise<void>
}

const TRANSFORMS: readonly PluginFunctionName[] = ['processEvent', 'processEventBatch']

/** The tag of a config in `$plugins_*` lists. */
export function configTag(pluginName: string, configId: number): string {
  return `${pluginName} (${configId})`
}

function toHostAttachments(records: Awaited<ReturnType<Registry['listAttachments']>>) {
  const attachments: Record<string, HostAttachment> = {}
  for (const a of records)
    attachments[a.key] = { content_type: a.contentType, file_name: a.fileName, contents: a.contents }
  return attachments
}

/** Creates the config manager. */
export function createConfigManager(options: ConfigManagerOptions): ConfigManager {
  const { clock, registry, sandbox, jobQueue, telemetry } = options
  const teardownTimeoutMs = options.teardownTimeoutMs ?? 10_000
  const live = new Map<number, LiveConfig>()
  const plugins = new Map<string, { loaded: Promise<LoadedPlugin>; users: number }>()
  let byTeam = new Map<number, LiveConfig[]>()
  let reconciling: Promise<void> | null = null
  let again = false

  const systemLog = (
    config: { id: number; teamId: number },
    level: 'info' | 'warn' | 'error',
    message: string,
  ) => telemetry.log({ configId: config.id, teamId: config.teamId, level, source: 'system', message })

  const reindex = () => {
    const next = new Map<number, LiveConfig[]>()
    for (const config of live.values()) {
      const list = next.get(config.teamId) ?? []
      list.push(config)
      next.set(config.teamId, list)
    }
    for (const list of next.values()) list.sort((a, b) => a.order - b.order || a.id - b.id)
    byTeam = next
  }

  const acquirePlugin = (plugin: PluginRecord, entry: string) => {
    const key = `${plugin.id}@${plugin.version}`
    let slot = plugins.get(key)
    if (!slot) {
      const loaded = sandbox.load({
        pluginId: plugin.id,
        name: plugin.name,
        version: plugin.version,
        files: plugin.files,
        entry,
      })
      slot = { loaded, users: 0 }
      plugins.set(key, slot)
      loaded.catch(() => plugins.delete(key))
    }
    slot.users += 1
    return slot.loaded
  }

  const releasePlugin = async (pluginId: number, version: string) => {
    const key = `${pluginId}@${version}`
    const slot = plugins.get(key)
    if (!slot) return
    slot.users -= 1
    if (slot.users > 0) return
    plugins.delete(key)
    const loaded = await slot.loaded.catch(() => null)
    await loaded?.dispose()
  }

  const disable = async (record: PluginConfigRecord, source: string, error: unknown) => {
    const message = describeError(error instanceof PluginCallError ? error.failure : error)
    systemLog(record, 'error', `disabled: ${source} failed: ${message}`)
    await registry.updateConfig(record.id, { enabled: false, error: { message, time: clock.now(), source } })
  }

  const withTimeout = <T>(promise: Promise<T>, ms: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = clock.setTimer(ms, () => reject(new Error(`${what} did not finish within ${ms} ms`)))
      promise.then(
        (value) => {
          timer.cancel()
          resolve(value)
        },
        (error) => {
          timer.cancel()
          reject(error)
        },
      )
    })

  const teardown = async (config: LiveConfig) => {
    live.delete(config.id)
    reindex()
    options.health?.untrack(config.id)
    if (config.status === 'ready' && config.has('teardownPlugin')) {
      try {
        await withTimeout(config.instance.call('teardownPlugin', []), teardownTimeoutMs, 'teardownPlugin')
      } catch (error) {
        systemLog(
          config,
          'error',
          `teardownPlugin failed: ${describeError(error instanceof PluginCallError ? error.failure : error)}`,
        )
      }
    }
    await config.instance.dispose().catch(() => {})
    await releasePlugin(config.pluginId, config.pluginVersion)
  }

  const runSetup = async (config: LiveConfig, record: PluginConfigRecord, failedSoFar: number) => {
    if (!config.has('setupPlugin')) {
      config.status = 'ready'
      return
    }
    try {
      await config.instance.call('setupPlugin', [])
      config.status = 'ready'
      if (failedSoFar > 0) systemLog(config, 'info', `setupPlugin succeeded after ${failedSoFar} retries`)
    } catch (error) {
      const failure = error instanceof PluginCallError ? error.failure : null
      const retryable = failure ? failure.retry : isRetryError(error)
      if (!retryable) return disable(record, 'setupPlugin', error)
      const next = nextRetry(SETUP_RETRY_POLICY, failedSoFar + 1, clock.now())
      if ('exhausted' in next) return disable(record, 'setupPlugin', error)
      systemLog(
        config,
        'warn',
        `setupPlugin asked for a retry (${describeError(failure ?? error)}); retry ${next.attempt} at ${new Date(next.retryAt).toISOString()}`,
      )
      await jobQueue.enqueue([
        {
          kind: 'setup-retry',
          configId: config.id,
          name: 'setupPlugin',
          payload: JSON.stringify({ revision: record.revision }),
          runAt: next.retryAt,
          attempt: failedSoFar + 1,
        },
      ])
    }
  }

  const load = async (record: PluginConfigRecord) => {
    const plugin = await registry.getPlugin(record.pluginId)
    if (!plugin) return disable(record, 'load', new Error(`plugin ${record.pluginId} does not exist`))
    let loaded: LoadedPlugin
    let entry: string
    let manifestConfig: PluginManifest['config']
    try {
      const manifest = parsePluginManifest(plugin.files['plugin.json'] ?? '')
      manifestConfig = manifest.config
      entry = resolvePluginEntry(manifest, Object.keys(plugin.files))
    } catch (error) {
      return disable(record, 'load', error)
    }
    try {
      loaded = await acquirePlugin(plugin, entry)
    } catch (error) {
      await releasePlugin(plugin.id, plugin.version)
      return disable(record, 'load', error)
    }
    const attachmentRecords = await registry.listAttachments(record.id)
    const validation = validatePluginConfig(
      manifestConfig,
      { ...record.config },
      { attachmentKeys: attachmentRecords.map((a) => a.key) },
    )
    if (!validation.ok) {
      await releasePlugin(plugin.id, plugin.version)
      return disable(
        record,
        'config',
        new ValidationError('config', 'plugin config is invalid', validation.problems),
      )
    }
    const host = createPluginHost(options.hostServices, {
      pluginId: plugin.id,
      pluginName: plugin.name,
      configId: record.id,
      teamId: record.teamId,
      config: validation.config,
      attachments: toHostAttachments(attachmentRecords),
      jobNames: loaded.capabilities.jobs,
      metrics: loaded.capabilities.metrics,
    })
    let instance: PluginInstance
    try {
      instance = await loaded.instantiate(host)
    } catch (error) {
      await releasePlugin(plugin.id, plugin.version)
      return disable(record, 'load', error)
    }
    const functions = new Set(loaded.capabilities.functions)
    const watched = { id: record.id, teamId: record.teamId, revision: record.revision }
    instance = observePluginCalls(instance, {
      clock,
      telemetry,
      ...(options.health ? { watcher: options.health } : {}),
      config: watched,
    })
    options.health?.track(watched)
    const config: LiveConfig = {
      id: record.id,
      pluginId: plugin.id,
      pluginName: plugin.name,
      teamId: record.teamId,
      order: record.order,
      revision: record.revision,
      pluginVersion: plugin.version,
      tag: configTag(plugin.name, record.id),
      capabilities: loaded.capabilities,
      instance,
      exportSettings: exportBufferSettings(validation.config),
      has: (fn) => functions.has(fn),
      status: 'setting-up',
    }
    live.set(config.id, config)
    reindex()
    await runSetup(config, record, 0)
  }

  const reconcileOnce = async () => {
    const records = await registry.listConfigs({ enabled: true })
    const wanted = new Map(records.map((r) => [r.id, r]))
    const pluginVersions = new Map((await registry.listPlugins()).map((p) => [p.id, p.version]))
    for (const config of [...live.values()]) {
      const record = wanted.get(config.id)
      if (
        !record ||
        record.revision !== config.revision ||
        pluginVersions.get(config.pluginId) !== config.pluginVersion
      ) {
        await teardown(config)
      }
    }
    for (const record of records) {
      if (live.has(record.id)) continue
      try {
        await load(record)
      } catch (error) {
        systemLog(record, 'error', `could not load: ${describeError(error)}`)
      }
    }
  }

  const reconcile = async (): Promise<void> => {
    if (reconciling) {
      again = true
      return reconciling
    }
    reconciling = (async () => {
      try {
        do {
          again = false
          await reconcileOnce()
        } while (again)
      } finally {
        reconciling = null
      }
    })()
    return reconciling
  }

  return {
    reconcile,
    chain: (teamId) =>
      (byTeam.get(teamId) ?? []).filter((c) => c.status === 'ready' && TRANSFORMS.some((fn) => c.has(fn))),
    teamConfigs: (teamId) => (byTeam.get(teamId) ?? []).filter((c) => c.status === 'ready'),
    get: (configId) => live.get(configId),
    all: () => [...live.values()],
    async retrySetup(configId, revision, attempt) {
      const config = live.get(configId)
      if (!config || config.revision !== revision || config.status !== 'setting-up') return
      const record = await registry.getConfig(configId)
      if (!record) return
      await runSetup(config, record, attempt)
    },
    async close() {
      for (const config of [...live.values()]) await teardown(config)
    },
  }
}
