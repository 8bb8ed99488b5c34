// Turns --config, --config-file and --attachment into one config (and attachments) per plugin of
// a chain, and validates each with core's validatePluginConfig.
import { readFile, stat } from 'node:fs/promises'
import { basename, extname, resolve } from 'node:path'
import {
  type AttachmentRecord,
  type PluginManifest,
  RESERVED_CONFIG_KEYS,
  validatePluginConfig,
} from '@sluice/core'

/** The config flags of `sluice run` / `sluice validate`, as given. */
export interface ConfigArguments {
  /** `--config key=value` (every plugin that declares `key`) or `--config <plugin>.key=value`. */
  config: readonly string[]
  /** `--config-file file.json`: an object of values, and per-plugin objects under a plugin's name. */
  configFiles: readonly string[]
  /** `--attachment key=path` or `--attachment <plugin>.key=path`. */
  attachments: readonly string[]
}

/** A plugin of the chain, as the config flags address it. */
export interface ChainPlugin {
  /** `name` from plugin.json. */
  name: string
  /** The folder or archive name, without an archive extension. */
  folder: string
  manifest: PluginManifest
}

/** The config of one plugin of the chain: validated values and attachments. */
export interface ChainPluginConfig {
  /** What `validatePluginConfig` returned: defaults applied, `json` fields parsed. */
  config: Record<string, unknown>
  attachments: Omit<AttachmentRecord, 'configId'>[]
}

/** Every problem found, as lines for the terminal. */
export type ChainConfigResult = { ok: true; configs: ChainPluginConfig[] } | { ok: false; problems: string[] }

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.xml': 'application/xml',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.pem': 'application/x-pem-file',
  '.crt': 'application/x-x509-ca-cert',
  '.key': 'application/x-pem-file',
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The folder name a plugin path is known by: `plugins/hello.tgz` → `hello`. */
export function folderName(path: string): string {
  return basename(resolve(path)).replace(/\.(?:tgz|tar\.gz|tar|zip)$/i, '')
}

// A JSON.parse message quotes the text it choked on, which may hold secrets: keep only where.
function jsonProblem(error: unknown): string {
  const where = /line \d+ column \d+|position \d+/.exec((error as Error).message)
  return where ? `is not valid JSON (at ${where[0]})` : 'is not valid JSON'
}

/**
 * Finds which plugin a `<plugin>.key` reference names, by plugin.json name or folder name (the
 * longest match wins, so names containing dots work). `null` when it names none.
 */
function splitPluginKey(
  reference: string,
  plugins: readonly ChainPlugin[],
): { plugins: number[]; key: string } | null {
  let best: { plugins: number[]; key: string; length: number } | null = null
  plugins.forEach((plugin, index) => {
    for (const selector of new Set([plugin.name, plugin.folder])) {
      if (!reference.startsWith(`${selector}.`) || reference.length === selector.length + 1) continue
      if (best && selector.length < best.length) continue
      if (best && selector.length === best.length) {
        if (!best.plugins.includes(index)) best.plugins.push(index)
        continue
      }
      best = { plugins: [index], key: reference.slice(selector.length + 1), length: selector.length }
    }
  })
  return best
}

const declares = (plugin: ChainPlugin, key: string, type?: 'attachment') =>
  plugin.manifest.config.some(
    (field) => field.key === key && (type === undefined ? field.type !== 'attachment' : field.type === type),
  )

/**
 * Resolves the config flags into one validated config per plugin, in chain order.
 *
 * Precedence, lowest first: config files (shared values, then a plugin's own object), then
 * `--config key=value`, then `--config <plugin>.key=value`. A shared key goes to every plugin
 * that declares it (or, with a single plugin, to that plugin); a shared key no plugin declares is
 * a problem. Values are never quoted in problems: they may be secrets.
 */
export async function resolveChainConfigs(
  plugins: readonly ChainPlugin[],
  args: ConfigArguments,
  cwd: string,
): Promise<ChainConfigResult> {
  const problems: string[] = []
  const shared: [key: string, value: unknown, origin: string][] = []
  const sharedFlags: [key: string, value: unknown, origin: string][] = []
  const perPlugin = plugins.map(() => ({
    file: {} as Record<string, unknown>,
    flag: {} as Record<string, unknown>,
  }))
  const declaredByAny = (key: string, type?: 'attachment') => plugins.some((p) => declares(p, key, type))

  for (const file of args.configFiles) {
    let value: unknown
    try {
      value = JSON.parse(await readFile(resolve(cwd, file), 'utf8'))
    } catch (error) {
      const code = (error as { code?: string }).code
      problems.push(
        `--config-file ${file}: ${code === 'ENOENT' ? 'no such file' : code ? `cannot be read (${code})` : jsonProblem(error)}`,
      )
      continue
    }
    if (!isObject(value)) {
      problems.push(`--config-file ${file}: must hold a JSON object of config values`)
      continue
    }
    for (const [key, entry] of Object.entries(value)) {
      const named = isObject(entry) ? plugins.findIndex((p) => p.name === key || p.folder === key) : -1
      const own = perPlugin[named]
      if (own && !declaredByAny(key)) Object.assign(own.file, entry)
      else shared.push([key, entry, `--config-file ${file}`])
    }
  }

  for (const pair of args.config) {
    const at = pair.indexOf('=')
    if (at <= 0) {
      problems.push(`--config ${pair.slice(0, at === -1 ? undefined : at) || "''"}: expected key=value`)
      continue
    }
    const reference = pair.slice(0, at)
    const value = pair.slice(at + 1)
    const split = declaredByAny(reference) ? null : splitPluginKey(reference, plugins)
    const own = perPlugin[split?.plugins[0] ?? -1]
    if (split && split.plugins.length > 1) {
      problems.push(`--config ${reference}: names more than one plugin; use a folder name to pick one`)
    } else if (split && own) own.flag[split.key] = value
    else sharedFlags.push([reference, value, `--config ${reference}`])
  }

  const configs = plugins.map(() => ({}) as Record<string, unknown>)
  const assignShared = (entries: typeof shared) => {
    for (const [key, value, origin] of entries) {
      const reserved = (RESERVED_CONFIG_KEYS as readonly string[]).includes(key)
      const targets =
        plugins.length === 1 || reserved
          ? plugins.map((_, index) => index)
          : plugins.flatMap((plugin, index) => (declares(plugin, key) ? [index] : []))
      if (targets.length === 0) {
        problems.push(
          `${origin}: no plugin of the chain has a config field '${key}' (to set it for one plugin: <plugin>.${key}=…)`,
        )
      }
      for (const index of targets) (configs[index] as Record<string, unknown>)[key] = value
    }
  }
  assignShared(shared)
  for (const [index, values] of perPlugin.entries()) Object.assign(configs[index] as object, values.file)
  assignShared(sharedFlags)
  for (const [index, values] of perPlugin.entries()) Object.assign(configs[index] as object, values.flag)

  const attachments = plugins.map(() => new Map<string, ChainPluginConfig['attachments'][number]>())
  for (const pair of args.attachments) {
    const at = pair.indexOf('=')
    if (at <= 0 || at === pair.length - 1) {
      problems.push(`--attachment ${pair}: expected key=path`)
      continue
    }
    const reference = pair.slice(0, at)
    const path = pair.slice(at + 1)
    let targets: number[]
    let key = reference
    const split = declaredByAny(reference, 'attachment') ? null : splitPluginKey(reference, plugins)
    if (split) {
      targets = split.plugins
      key = split.key
    } else {
      targets =
        plugins.length === 1
          ? [0]
          : plugins.flatMap((plugin, index) => (declares(plugin, key, 'attachment') ? [index] : []))
    }
    const undeclared = targets.filter((index) => !declares(plugins[index] as ChainPlugin, key, 'attachment'))
    if (targets.length === 0) {
      problems.push(`--attachment ${reference}: no plugin of the chain has an attachment field '${key}'`)
      continue
    }
    if (undeclared.length > 0) {
      const names = undeclared.map((index) => `'${plugins[index]?.name}'`).join(', ')
      problems.push(`--attachment ${reference}: plugin ${names} has no attachment field '${key}'`)
      continue
    }
    const file = resolve(cwd, path)
    const info = await stat(file).catch(() => null)
    if (!info?.isFile()) {
      problems.push(`--attachment ${reference}: ${path}: ${info ? 'is not a file' : 'no such file'}`)
      continue
    }
    const attachment = {
      key,
      fileName: basename(file),
      contentType: CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      contents: new Uint8Array(await readFile(file)),
    }
    for (const index of targets) attachments[index]?.set(key, attachment)
  }

  const validated: ChainPluginConfig[] = []
  plugins.forEach((plugin, index) => {
    const attached = [...(attachments[index]?.values() ?? [])]
    const result = validatePluginConfig(plugin.manifest.config, configs[index] ?? {}, {
      attachmentKeys: attached.map((a) => a.key),
    })
    if (!result.ok) {
      for (const problem of result.problems)
        problems.push(`[${plugin.name}] config ${problem.field}: ${problem.message}`)
      return
    }
    validated.push({ config: result.config, attachments: attached })
  })
  return problems.length > 0 ? { ok: false, problems } : { ok: true, configs: validated }
}
