import { ValidationError } from '../errors.js'
import type { PluginManifest } from './types.js'

const SOURCE_EXTENSIONS = ['.ts', '.js', '.mjs', '.cjs', '.mts', '.cts', '.tsx', '.jsx']
const IMPORT_SUFFIXES = ['', '.ts', '.js', '.mjs', '.cjs', '/index.ts', '/index.js']

/**
 * Normalises a POSIX path relative to the plugin root: drops `./`, empty and `.` segments and a
 * leading `/`, and applies `..`.
 *
 * @returns the normalised path (`''` for the root itself), or `null` if it leaves the root.
 * @example
 * normalisePluginPath('./src//lib/../index.ts') // 'src/index.ts'
 * normalisePluginPath('../secrets.json')        // null
 */
export function normalisePluginPath(path: string): string | null {
  const segments: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (segments.length === 0) return null
      segments.pop()
    } else {
      segments.push(segment)
    }
  }
  return segments.join('/')
}

function fileSet(files: readonly string[]): Set<string> {
  const set = new Set<string>()
  for (const file of files) {
    const normalised = normalisePluginPath(file)
    if (normalised) set.add(normalised)
  }
  return set
}

function withSuffix(base: string, suffix: string): string {
  if (base !== '') return base + suffix
  return suffix.startsWith('/') ? suffix.slice(1) : ''
}

function hasSourceExtension(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1)
  return SOURCE_EXTENSIONS.some((extension) => name.length > extension.length && name.endsWith(extension))
}

/**
 * Finds the file a plugin's code starts from.
 *
 * With `main` set, that path is used (a leading `./` is fine); when it has no source extension
 * (`.ts`, `.js`, `.mjs`, `.cjs`, …) `main`, `main.ts`, `main.js`, `main/index.ts` and
 * `main/index.js` are tried in that order. Without `main`, `index.ts` is used, else `index.js`.
 *
 * @param manifest the parsed plugin.json (only `main` is read).
 * @param files every file of the plugin, as POSIX paths relative to its root (`./` allowed).
 * @returns the entry file's normalised path, e.g. `src/index.ts`.
 * @throws {ValidationError} (component `manifest`, field `main`) naming every path looked for.
 * @example
 * resolvePluginEntry({ name: 'p', config: [], main: './dist/index' }, ['dist/index.js']) // 'dist/index.js'
 */
export function resolvePluginEntry(manifest: Pick<PluginManifest, 'main'>, files: readonly string[]): string {
  const available = fileSet(files)
  let candidates: string[]
  if (manifest.main !== undefined) {
    const main = normalisePluginPath(manifest.main)
    if (main === null) {
      throw new ValidationError('manifest', 'plugin entry file not found', [
        { field: 'main', message: `'${manifest.main}' points outside the plugin folder` },
      ])
    }
    candidates =
      main === '' || hasSourceExtension(main)
        ? [main]
        : [main, `${main}.ts`, `${main}.js`, `${main}/index.ts`, `${main}/index.js`]
  } else {
    candidates = ['index.ts', 'index.js']
  }
  const found = candidates.find((candidate) => candidate !== '' && available.has(candidate))
  if (found !== undefined) return found
  const lookedFor = candidates.filter((candidate) => candidate !== '').join(', ') || `'${manifest.main}'`
  const message =
    manifest.main !== undefined
      ? `entry file '${manifest.main}' not found; looked for ${lookedFor}`
      : `no \`main\` in plugin.json and no entry file found; looked for ${lookedFor}`
  throw new ValidationError('manifest', 'plugin entry file not found', [{ field: 'main', message }])
}

/**
 * Resolves a relative import between a plugin's own files (`./x`, `../lib/y`).
 *
 * The specifier is taken against the importing file's folder, then tried as is and with `.ts`,
 * `.js`, `.mjs`, `.cjs`, `/index.ts` and `/index.js`. A `.js` specifier that is not a file also
 * tries the `.ts` file of the same name (the TypeScript ES-module convention).
 *
 * @param fromFile the importing file, relative to the plugin root.
 * @param specifier the import specifier as written.
 * @param files every file of the plugin, relative to its root (`./` allowed).
 * @returns the imported file's normalised path, or `null` when the specifier is not relative,
 *   leaves the plugin root, or matches no file.
 * @example
 * resolveRelativeImport('src/index.ts', '../lib/util', ['src/index.ts', 'lib/util.ts']) // 'lib/util.ts'
 */
export function resolveRelativeImport(
  fromFile: string,
  specifier: string,
  files: readonly string[],
): string | null {
  const relative =
    specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../')
  if (!relative) return null
  const from = normalisePluginPath(fromFile)
  if (from === null) return null
  const folder = from.includes('/') ? from.slice(0, from.lastIndexOf('/')) : ''
  const target = normalisePluginPath(folder === '' ? specifier : `${folder}/${specifier}`)
  if (target === null) return null
  const available = fileSet(files)
  const candidates = IMPORT_SUFFIXES.map((suffix) => withSuffix(target, suffix))
  if (target.endsWith('.js')) candidates.push(`${target.slice(0, -'.js'.length)}.ts`)
  return candidates.find((candidate) => candidate !== '' && available.has(candidate)) ?? null
}
