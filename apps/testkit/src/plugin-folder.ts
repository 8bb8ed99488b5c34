import { readdir, readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  describeError,
  type PluginManifest,
  type PluginSource,
  parsePluginManifest,
  resolvePluginEntry,
  SluiceError,
  ValidationError,
} from '@sluice/core'

/** A plugin's files: POSIX path relative to the plugin root → text. */
export type PluginFiles = Readonly<Record<string, string>>

/** Folders never read into a plugin: dependencies and version control. */
const SKIPPED_FOLDERS: ReadonlySet<string> = new Set(['node_modules', '.git'])

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The text of a file, or null when it is binary (not UTF-8, or holding NUL bytes). */
function asText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

/**
 * Reads a plugin folder the way Sluice installs one: every text file under it, by POSIX path
 * relative to the folder. `node_modules` and `.git` folders, binary files and symbolic links are
 * skipped. The sandbox later compiles only the files the entry reaches, so tests, configs and
 * READMEs in the folder do no harm.
 *
 * @param folder a path (relative to the working directory) or a `file:` URL.
 * @example
 * const files = await readPluginFolder(new URL('..', import.meta.url))
 * files['plugin.json'] // '{ "name": "strip-pii", … }'
 */
export async function readPluginFolder(folder: string | URL): Promise<Record<string, string>> {
  const root = typeof folder === 'string' ? folder : fileURLToPath(folder)
  const files: Record<string, string> = {}
  const visit = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true })
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) await visit(path)
        continue
      }
      if (!entry.isFile()) continue
      const text = asText(await readFile(path))
      if (text !== null) files[relative(root, path).split(sep).join('/')] = text
    }
  }
  try {
    await visit(root)
  } catch (error) {
    throw new SluiceError(`cannot read the plugin folder ${root}: ${describeError(error)}`, {
      component: 'testkit',
      code: 'testkit.folder-unreadable',
      retryable: false,
      cause: error,
    })
  }
  return files
}

/** A plugin's parsed `plugin.json` and the source a sandbox loads. */
export interface LoadablePlugin {
  manifest: PluginManifest
  source: PluginSource
}

/** Options of {@link toPluginSource}. */
export interface PluginSourceOptions {
  /**
   * The plugin id the sandbox sees (it namespaces `meta.cache`).
   * @default 1
   */
  pluginId?: number
  /**
   * Identifies this version of the source.
   * @default 'test'
   */
  version?: string
}

/**
 * Turns plugin files into what a sandbox loads: parses `plugin.json` with core's
 * `parsePluginManifest` and finds the entry file with `resolvePluginEntry` (`main`, else
 * `index.ts`, else `index.js`).
 *
 * @throws {ValidationError} when `plugin.json` is missing or invalid (every problem, with its
 *   path), or when no entry file exists.
 */
export function toPluginSource(files: PluginFiles, options: PluginSourceOptions = {}): LoadablePlugin {
  const manifestText = files['plugin.json']
  if (manifestText === undefined) {
    throw new ValidationError('manifest', 'the plugin has no plugin.json', [
      { field: 'plugin.json', message: 'add a plugin.json with at least a "name"' },
    ])
  }
  const manifest = parsePluginManifest(manifestText)
  const entry = resolvePluginEntry(manifest, Object.keys(files))
  return {
    manifest,
    source: {
      pluginId: options.pluginId ?? 1,
      name: manifest.name,
      version: options.version ?? 'test',
      files,
      entry,
    },
  }
}
