// Reads a plugin from disk (a folder or an archive) into the PluginSource the sandbox loads.
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { basename, join, relative, resolve, sep } from 'node:path'
import {
  normalisePluginPath,
  type PluginManifest,
  type PluginSource,
  parsePluginManifest,
  resolvePluginEntry,
  ValidationError,
} from '@sluice/core'
import { type ArchiveEntry, archiveKind, formatBytes, readArchive } from './archive.js'

/** Limits on what a plugin may hold; the defaults fit real PostHog plugins with bundled `dist/`. */
export interface PluginFilesOptions {
  /**
   * Largest single file.
   * @default 4194304 (4 MB)
   */
  maxFileBytes?: number
  /**
   * Largest total of every file read.
   * @default 16777216 (16 MB)
   */
  maxTotalBytes?: number
  /**
   * Most files read.
   * @default 1000
   */
  maxFiles?: number
  /**
   * The folder a relative path is taken from.
   * @default process.cwd()
   */
  cwd?: string
}

/** A plugin's files as read from disk, before plugin.json is interpreted. */
export interface PluginFiles {
  /** The absolute path of the folder or archive. */
  location: string
  /** POSIX path relative to the plugin root → UTF-8 text. */
  files: Record<string, string>
  /** Files left out because they are binary assets or lockfiles (logos, fonts, `package-lock.json`). */
  skipped: string[]
  /** Bytes of every file read. */
  bytes: number
}

/** A plugin ready for the sandbox, with the manifest it was resolved from. */
export interface LoadedPluginFiles extends PluginFiles {
  manifest: PluginManifest
  source: PluginSource
}

/** Folders never read: dependencies and version control. */
const SKIPPED_FOLDERS = new Set(['node_modules', '.git'])
/** Files plugins ship that never run in the sandbox and may be binary or very large. */
const SKIPPED_FILES = new Set(['.DS_Store', 'package-lock.json', 'yarn.lock', 'pnpm-lock.yaml'])
const BINARY_ASSET =
  /\.(?:png|jpe?g|gif|ico|webp|bmp|avif|woff2?|ttf|otf|eot|mmdb|pdf|zip|tgz|gz|tar|mp4|mov|mp3|wav)$/i

const DEFAULT_LIMITS = { maxFileBytes: 4 * 1024 * 1024, maxTotalBytes: 16 * 1024 * 1024, maxFiles: 1000 }

const utf8 = new TextDecoder('utf-8', { fatal: true })

const filesError = (location: string, problems: { field: string; message: string }[]) =>
  new ValidationError('plugin-files', `cannot read the plugin at ${location}`, problems)

const isSkippedFile = (name: string) => SKIPPED_FILES.has(name) || BINARY_ASSET.test(name)

function decodeText(path: string, contents: Buffer): string | { problem: string } {
  const binary = { problem: 'is a binary file; a plugin holds text only (code, JSON, docs) — remove it' }
  if (contents.includes(0)) return binary
  try {
    return utf8.decode(contents)
  } catch {
    return { problem: `is not UTF-8 text; save ${basename(path)} as UTF-8 or remove it` }
  }
}

interface DiskFile {
  path: string
  read: () => Promise<Buffer>
  size: number
}

async function listFolder(root: string, skipped: string[]): Promise<DiskFile[]> {
  const found: DiskFile[] = []
  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true })
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const absolute = join(folder, entry.name)
      const path = relative(root, absolute).split(sep).join('/')
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) await walk(absolute)
        continue
      }
      // Links are followed to files only: a linked folder could loop or reach anywhere.
      const info = entry.isSymbolicLink() ? await stat(absolute).catch(() => null) : null
      if (!entry.isFile() && !info?.isFile()) continue
      if (isSkippedFile(entry.name)) {
        skipped.push(path)
        continue
      }
      const size = info?.size ?? (await stat(absolute)).size
      found.push({ path, size, read: () => readFile(absolute) })
    }
  }
  await walk(root)
  return found
}

/** Archives nest the plugin in one folder (`package/` from `npm pack`, `repo-main/` from GitHub). */
function archiveRoot(entries: readonly ArchiveEntry[]): string {
  const paths = entries.map((entry) => normalisePluginPath(entry.path) ?? '')
  if (paths.includes('plugin.json')) return ''
  const tops = new Set(paths.map((path) => path.split('/')[0]))
  const [top] = tops
  return tops.size === 1 && top !== undefined && paths.includes(`${top}/plugin.json`) ? `${top}/` : ''
}

function listArchive(location: string, entries: readonly ArchiveEntry[], skipped: string[]): DiskFile[] {
  const root = archiveRoot(entries)
  const found: DiskFile[] = []
  for (const entry of entries) {
    const normalised = normalisePluginPath(entry.path)
    if (normalised === null) {
      throw filesError(location, [{ field: entry.path, message: 'points outside the plugin folder' }])
    }
    if (!normalised.startsWith(root)) continue
    const path = normalised.slice(root.length)
    const segments = path.split('/')
    if (path === '' || segments.slice(0, -1).some((segment) => SKIPPED_FOLDERS.has(segment))) continue
    if (isSkippedFile(segments[segments.length - 1] ?? '')) {
      skipped.push(path)
      continue
    }
    found.push({ path, size: entry.contents.length, read: async () => entry.contents })
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

/**
 * Reads every text file of a plugin folder or archive (`.tgz`, `.tar.gz`, `.tar`, `.zip`; an
 * archive may nest the plugin in one top folder, as `npm pack` does). `node_modules` and `.git`
 * are not read; binary assets (images, fonts, `.mmdb`) and lockfiles are skipped and listed.
 *
 * @throws {ValidationError} (component `plugin-files`) when the path does not exist, or a file is
 *   binary, not UTF-8 or over a limit — every such file is listed.
 */
export async function readPluginFiles(path: string, options: PluginFilesOptions = {}): Promise<PluginFiles> {
  const { cwd, ...limitOptions } = options
  const limits = { ...DEFAULT_LIMITS, ...limitOptions }
  const location = cwd === undefined ? resolve(path) : resolve(cwd, path)
  const info = await stat(location).catch(() => null)
  if (!info) throw filesError(location, [{ field: path, message: 'no such file or folder' }])
  const skipped: string[] = []
  let listed: DiskFile[]
  if (info.isDirectory()) {
    listed = await listFolder(location, skipped)
  } else {
    const kind = archiveKind(location)
    if (!kind) {
      throw filesError(location, [
        { field: path, message: 'is a file; give a plugin folder or a .tgz, .tar or .zip archive' },
      ])
    }
    if (info.size > limits.maxTotalBytes) {
      throw filesError(location, [
        {
          field: path,
          message: `is larger than ${formatBytes(limits.maxTotalBytes)}, the limit for a plugin`,
        },
      ])
    }
    listed = listArchive(location, readArchive(path, kind, await readFile(location), limits), skipped)
  }

  const problems: { field: string; message: string }[] = []
  if (listed.length > limits.maxFiles) {
    problems.push({
      field: path,
      message: `holds ${listed.length} files; the limit is ${limits.maxFiles} (node_modules and .git are not counted)`,
    })
  }
  const total = listed.reduce((sum, file) => sum + file.size, 0)
  if (total > limits.maxTotalBytes) {
    problems.push({
      field: path,
      message: `holds ${formatBytes(total)} of files; the limit is ${formatBytes(limits.maxTotalBytes)}`,
    })
  }
  const files: Record<string, string> = {}
  if (problems.length === 0) {
    for (const file of listed) {
      if (file.size > limits.maxFileBytes) {
        problems.push({
          field: file.path,
          message: `is ${formatBytes(file.size)}; the limit for one plugin file is ${formatBytes(limits.maxFileBytes)}`,
        })
        continue
      }
      const text = decodeText(file.path, await file.read())
      if (typeof text === 'string') files[file.path] = text
      else problems.push({ field: file.path, message: text.problem })
    }
  }
  if (problems.length > 0) throw filesError(location, problems)
  return { location, files, skipped, bytes: total }
}

/** A short content hash of a plugin's files: the plugin version the sandbox caches by. */
export function contentHash(files: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256')
  for (const path of Object.keys(files).sort()) {
    hash
      .update(path)
      .update('\0')
      .update(files[path] ?? '')
      .update('\0')
  }
  return hash.digest('hex').slice(0, 16)
}

/**
 * Interprets plugin.json (core's `parsePluginManifest`) and finds the entry file (core's
 * `resolvePluginEntry`).
 *
 * @throws {ValidationError} from core when plugin.json is missing or invalid or the entry is not found.
 */
export function toPluginSource(plugin: PluginFiles, pluginId = 1): LoadedPluginFiles {
  const text = plugin.files['plugin.json']
  if (text === undefined) {
    throw new ValidationError('manifest', 'plugin.json not found', [
      { field: 'plugin.json', message: `is missing from ${plugin.location}` },
    ])
  }
  const manifest = parsePluginManifest(text)
  const entry = resolvePluginEntry(manifest, Object.keys(plugin.files))
  const source: PluginSource = {
    pluginId,
    name: manifest.name,
    version: contentHash(plugin.files),
    files: plugin.files,
    entry,
  }
  return { ...plugin, manifest, source }
}

/**
 * Terminal lines for a plugin that could not be read or interpreted: `<path>: <where>: <message>`,
 * where plugin.json problems name the field inside plugin.json.
 */
export function pluginProblemLines(path: string, error: ValidationError): string[] {
  return error.problems.map((problem) => {
    if (problem.field === path) return `${path}: ${problem.message}`
    const where =
      error.component === 'manifest' && problem.field !== 'plugin.json'
        ? `plugin.json ${problem.field}`
        : problem.field
    return `${path}: ${where}: ${problem.message}`
  })
}

/** {@link readPluginFiles} then {@link toPluginSource}. */
export async function loadPluginFiles(
  path: string,
  options: PluginFilesOptions & { pluginId?: number } = {},
): Promise<LoadedPluginFiles> {
  return toPluginSource(await readPluginFiles(path, options), options.pluginId)
}
