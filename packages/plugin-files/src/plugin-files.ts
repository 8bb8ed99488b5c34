// Reads a plugin (a folder, an archive, or source files) into the PluginSource the sandbox loads.
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
import { type ArchiveEntry, type ArchiveKind, archiveKind, formatBytes, readArchive } from './archive.js'

/** Limits on what a plugin may hold; the defaults fit real PostHog plugins with bundled `dist/`. */
export interface PluginFilesLimits {
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
}

/** Options of {@link readPluginFiles}: the limits and where a relative path starts. */
export interface PluginFilesOptions extends PluginFilesLimits {
  /**
   * The folder a relative path is taken from.
   * @default process.cwd()
   */
  cwd?: string
}

/** Options of {@link readPluginArchive}: the limits and how to tell the archive's kind. */
export interface PluginArchiveOptions extends PluginFilesLimits {
  /** The archive's file name (e.g. `plugin.tgz`): names it in errors, and gives the kind when `kind` is absent. */
  name?: string
  /** The archive's format; taken from `name` when absent. */
  kind?: ArchiveKind
}

/** A plugin's files as read, before plugin.json is interpreted. */
export interface PluginFiles {
  /**
   * Where the files came from: the absolute path of a folder or archive, an uploaded archive's name,
   * or `source files` for {@link readPluginSources}.
   */
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
type Limits = typeof DEFAULT_LIMITS
type Problem = { field: string; message: string }

const utf8 = new TextDecoder('utf-8', { fatal: true })

const filesError = (location: string, problems: Problem[]) =>
  new ValidationError('plugin-files', `cannot read the plugin at ${location}`, problems)

const isSkippedFile = (name: string) => SKIPPED_FILES.has(name) || BINARY_ASSET.test(name)

function decodeText(path: string, contents: Uint8Array): string | { problem: string } {
  const binary = { problem: 'is a binary file; a plugin holds text only (code, JSON, docs) — remove it' }
  if (contents.includes(0)) return binary
  try {
    return utf8.decode(contents)
  } catch {
    return { problem: `is not UTF-8 text; save ${basename(path)} as UTF-8 or remove it` }
  }
}

interface ListedFile {
  path: string
  read: () => Promise<Uint8Array>
  size: number
}

const byPath = (a: ListedFile, b: ListedFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

async function listFolder(root: string, skipped: string[]): Promise<ListedFile[]> {
  const found: ListedFile[] = []
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

function listArchive(location: string, entries: readonly ArchiveEntry[], skipped: string[]): ListedFile[] {
  const root = archiveRoot(entries)
  const found: ListedFile[] = []
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
  return found.sort(byPath)
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
  if (info.isDirectory()) {
    const skipped: string[] = []
    return checkFiles(location, path, await listFolder(location, skipped), skipped, limits)
  }
  const kind = archiveKind(location)
  if (!kind) {
    throw filesError(location, [
      { field: path, message: 'is a file; give a plugin folder or a .tgz, .tar or .zip archive' },
    ])
  }
  if (info.size > limits.maxTotalBytes) throw archiveTooLarge(location, path, limits.maxTotalBytes)
  return unpackArchive(location, path, kind, await readFile(location), limits)
}

/**
 * Reads a plugin from the bytes of an archive (an upload), with the same layout rules, skipping and
 * limits as {@link readPluginFiles}.
 *
 * @throws {ValidationError} (component `plugin-files`) when the kind is unknown, the archive is
 *   corrupt or over a limit, or a file in it is binary or not UTF-8 — every such file is listed.
 */
export async function readPluginArchive(
  data: Uint8Array,
  options: PluginArchiveOptions = {},
): Promise<PluginFiles> {
  const { name, kind: givenKind, ...limitOptions } = options
  const limits = { ...DEFAULT_LIMITS, ...limitOptions }
  const location = name ?? 'the uploaded archive'
  const kind = givenKind ?? (name === undefined ? null : archiveKind(name))
  if (!kind) {
    throw filesError(location, [
      {
        field: location,
        message: 'is not a known archive kind; name it .tgz, .tar.gz, .tar or .zip, or give its kind',
      },
    ])
  }
  if (data.length > limits.maxTotalBytes) throw archiveTooLarge(location, location, limits.maxTotalBytes)
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length)
  return unpackArchive(location, location, kind, bytes, limits)
}

/**
 * Reads a plugin given as source files (POSIX path → text), e.g. from an upload: paths are
 * normalised (`./src/a.ts` → `src/a.ts`), and the same skipping and limits as {@link readPluginFiles}
 * apply (sizes count UTF-8 bytes).
 *
 * @throws {ValidationError} (component `plugin-files`) when a path leaves the plugin folder or is
 *   given twice, a value is not a string or holds a NUL character, or a limit is passed — every such
 *   file is listed.
 */
export async function readPluginSources(
  sources: Readonly<Record<string, unknown>>,
  options: PluginFilesLimits = {},
): Promise<PluginFiles> {
  const limits = { ...DEFAULT_LIMITS, ...options }
  const location = 'source files'
  const problems: Problem[] = []
  const skipped: string[] = []
  const listed: ListedFile[] = []
  const seen = new Set<string>()
  for (const [given, text] of Object.entries(sources)) {
    const path = normalisePluginPath(given)
    if (path === null || path === '') {
      problems.push({ field: given, message: 'points outside the plugin folder; use a path inside it' })
      continue
    }
    if (seen.has(path)) {
      problems.push({ field: given, message: `names ${path} again; give each file once` })
      continue
    }
    seen.add(path)
    if (typeof text !== 'string') {
      problems.push({ field: given, message: "is not text; give each file's contents as a string" })
      continue
    }
    const segments = path.split('/')
    if (segments.slice(0, -1).some((segment) => SKIPPED_FOLDERS.has(segment))) continue
    if (isSkippedFile(segments[segments.length - 1] ?? '')) {
      skipped.push(path)
      continue
    }
    const contents = Buffer.from(text, 'utf8')
    listed.push({ path, size: contents.length, read: async () => contents })
  }
  if (problems.length > 0) throw filesError(location, problems)
  return checkFiles(location, location, listed.sort(byPath), skipped.sort(), limits)
}

const archiveTooLarge = (location: string, field: string, limit: number) =>
  filesError(location, [{ field, message: `is larger than ${formatBytes(limit)}, the limit for a plugin` }])

function unpackArchive(location: string, field: string, kind: ArchiveKind, data: Buffer, limits: Limits) {
  const skipped: string[] = []
  const listed = listArchive(location, readArchive(field, kind, data, limits), skipped)
  return checkFiles(location, field, listed, skipped, limits)
}

const totalBytes = (listed: readonly ListedFile[]) => listed.reduce((sum, file) => sum + file.size, 0)

/** The checks every source shares: file count and total size first, then each file's size and text. */
async function checkFiles(
  location: string,
  field: string,
  listed: readonly ListedFile[],
  skipped: string[],
  limits: Limits,
): Promise<PluginFiles> {
  const problems: Problem[] = []
  if (listed.length > limits.maxFiles) {
    problems.push({
      field,
      message: `holds ${listed.length} files; the limit is ${limits.maxFiles} (node_modules and .git are not counted)`,
    })
  }
  const total = totalBytes(listed)
  if (total > limits.maxTotalBytes) {
    problems.push({
      field,
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

/** {@link readPluginFiles} then {@link toPluginSource}. */
export async function loadPluginFiles(
  path: string,
  options: PluginFilesOptions & { pluginId?: number } = {},
): Promise<LoadedPluginFiles> {
  return toPluginSource(await readPluginFiles(path, options), options.pluginId)
}

/** {@link readPluginArchive} then {@link toPluginSource}. */
export async function loadPluginArchive(
  data: Uint8Array,
  options: PluginArchiveOptions & { pluginId?: number } = {},
): Promise<LoadedPluginFiles> {
  return toPluginSource(await readPluginArchive(data, options), options.pluginId)
}

/** {@link readPluginSources} then {@link toPluginSource}. */
export async function loadPluginSources(
  sources: Readonly<Record<string, unknown>>,
  options: PluginFilesLimits & { pluginId?: number } = {},
): Promise<LoadedPluginFiles> {
  return toPluginSource(await readPluginSources(sources, options), options.pluginId)
}
