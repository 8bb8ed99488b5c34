import { type PluginSource, resolveRelativeImport, ValidationError } from '@sluice/core'
import { Parser } from 'acorn'
import { simple } from 'acorn-walk'
import { transform } from 'sucrase'

/** Modules plugins may import (SPEC §1); each is implemented inside the isolate. */
export const ALLOWED_MODULES: readonly string[] = [
  '@posthog/plugin-scaffold',
  '@posthog/plugin-contrib',
  'node-fetch',
  'crypto',
  'url',
  'zlib',
  'stream',
]

/** One plugin file, ready to run as a CommonJS module body. */
export interface CompiledModule {
  path: string
  /** `(function (exports, require, module, __filename, __dirname) {…})`, same line numbers as the source. */
  code: string
  /** Static `require('…')` specifiers → plugin file paths, for relative imports. */
  imports: Readonly<Record<string, string>>
}

/** A plugin whose every file is transformed and whose imports are checked. */
export interface CompiledPlugin {
  entry: string
  modules: readonly CompiledModule[]
}

const SOURCE_FILE = /\.(?:[cm]?[jt]s)$/
const JSON_FILE = /\.json$/

const moduleWrapper = (body: string) =>
  `(function (exports, require, module, __filename, __dirname) {${body}\n})`

/**
 * Transforms the entry file and every plugin file it imports (transitively; TypeScript and ES
 * module syntax, in `.ts` and `.js` alike) into CommonJS module bodies, and checks every static
 * import: relative imports must name a plugin file, other imports must be on the allow-list.
 * Files the entry never reaches (tests, build configs, scripts) are not compiled or checked: they
 * never run in the sandbox. Rejects with a `ValidationError` whose problems name the file and line.
 */
export function compilePlugin(source: PluginSource): CompiledPlugin {
  const paths = Object.keys(source.files)
  const modules: CompiledModule[] = []
  const problems: { field: string; message: string }[] = []
  const pending = [source.entry]
  const seen = new Set(pending)
  for (let path = pending.shift(); path !== undefined; path = pending.shift()) {
    const text = source.files[path]
    if (text === undefined) continue
    const module = compileModule(path, text, paths, problems)
    if (!module) continue
    modules.push(module)
    for (const target of Object.values(module.imports)) {
      if (seen.has(target)) continue
      seen.add(target)
      pending.push(target)
    }
  }
  if (!modules.some((module) => module.path === source.entry)) {
    problems.push({
      field: source.entry,
      message: 'the entry file is missing or is not a JavaScript/TypeScript file',
    })
  }
  if (problems.length > 0) {
    throw new ValidationError('sandbox', `plugin '${source.name}' cannot be loaded`, problems)
  }
  return { entry: source.entry, modules }
}

function compileModule(
  path: string,
  text: string,
  paths: readonly string[],
  problems: { field: string; message: string }[],
): CompiledModule | null {
  if (JSON_FILE.test(path)) {
    return { path, code: moduleWrapper(`module.exports = JSON.parse(${JSON.stringify(text)})`), imports: {} }
  }
  if (!SOURCE_FILE.test(path) || path.endsWith('.d.ts')) return null
  let body: string
  try {
    body = transformSource(path, text)
  } catch (error) {
    problems.push({ field: path, message: describeSyntaxError(error) })
    return null
  }
  const imports: Record<string, string> = {}
  for (const { specifier, line } of findRequires(path, body, problems)) {
    const at = `${path}:${line}`
    if (ALLOWED_MODULES.includes(specifier) || imports[specifier] !== undefined) continue
    const target = resolveRelativeImport(path, specifier, paths)
    if (target !== null && isLoadable(target)) imports[specifier] = target
    else if (target !== null) {
      problems.push({
        field: at,
        message: `Cannot import '${specifier}': only JavaScript, TypeScript and JSON files can be imported`,
      })
    } else if (specifier.startsWith('.')) {
      problems.push({ field: at, message: `Cannot import '${specifier}': no such file in the plugin` })
    } else {
      problems.push({
        field: at,
        message: `Cannot import '${specifier}': this module is not available to plugins`,
      })
    }
  }
  return { path, code: moduleWrapper(body), imports }
}

const isLoadable = (path: string) =>
  JSON_FILE.test(path) || (SOURCE_FILE.test(path) && !path.endsWith('.d.ts'))

function transformSource(path: string, text: string): string {
  const { code } = transform(text, {
    transforms: ['typescript', 'imports'],
    disableESTransforms: true,
    production: true,
    filePath: path,
  })
  // Sucrase marks every output strict; plain CommonJS files were written for sloppy mode.
  const isEsModule = code.includes('Object.defineProperty(exports, "__esModule"')
  return isEsModule ? code : code.replace(/^"use strict";/, '')
}

function describeSyntaxError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return `syntax error: ${message}`
}

interface RequireSite {
  specifier: string
  line: number
}

function findRequires(
  path: string,
  body: string,
  problems: { field: string; message: string }[],
): RequireSite[] {
  let ast: ReturnType<typeof Parser.parse>
  try {
    ast = Parser.parse(body, {
      ecmaVersion: 'latest',
      sourceType: 'script',
      locations: true,
      allowReturnOutsideFunction: true,
      allowAwaitOutsideFunction: true,
    })
  } catch (error) {
    problems.push({ field: path, message: describeSyntaxError(error) })
    return []
  }
  const sites: RequireSite[] = []
  simple(ast, {
    CallExpression(node) {
      const [argument] = node.arguments
      if (node.callee.type !== 'Identifier' || node.callee.name !== 'require') return
      if (argument?.type === 'Literal' && typeof argument.value === 'string') {
        sites.push({ specifier: argument.value, line: node.loc?.start.line ?? 0 })
      }
    },
    ImportExpression(node) {
      const argument = node.source
      const specifier =
        argument.type === 'Literal' && typeof argument.value === 'string' ? argument.value : '<dynamic>'
      sites.push({ specifier, line: node.loc?.start.line ?? 0 })
    },
  })
  return sites
}
