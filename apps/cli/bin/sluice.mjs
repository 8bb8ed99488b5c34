#!/usr/bin/env node
// The `sluice` command's launcher.
//
// - Published package (no src/ folder): runs the compiled dist/main.js.
// - Inside the Sluice repository (src/ present): runs the TypeScript source through tsx, with
//   workspace packages resolved to their own source (the `sluice-source` export condition), so
//   `pnpm sluice …` and the tests work from a clean clone without a build step. Node's built-in
//   type stripping is not enough here: it does not map `.js` import specifiers to `.ts` files and
//   rejects TypeScript-only syntax such as constructor parameter properties.
import { existsSync } from 'node:fs'
import { register } from 'node:module'
import { serverNodeFlags, sizedByOperator } from './node-flags.mjs'

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `sluice needs Node.js 22.12 or newer (isolated-vm 6); this is ${process.versions.node}.\n`,
  )
  process.exit(1)
}

// The server runs with a young generation sized for it (node-flags.mjs), which V8 takes only on the
// command line: the process replaces itself with one that has the flags (same pid, same stdio),
// unless the operator sized it already. Without process.execve (Windows, Node < 22.15) it runs as is.
if (process.argv[2] === 'serve' && !sizedByOperator() && typeof process.execve === 'function') {
  const args = [...serverNodeFlags(), ...process.execArgv, ...process.argv.slice(1)]
  process.execve(process.execPath, [process.execPath, ...args], process.env)
}

const source = new URL('../src/main.ts', import.meta.url)

if (existsSync(source)) {
  const addSourceCondition = [
    'export async function resolve(specifier, context, next) {',
    "  const conditions = [...(context.conditions ?? []), 'sluice-source']",
    '  return next(specifier, { ...context, conditions })',
    '}',
  ].join('\n')
  register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`)
  const { register: registerTsx } = await import('tsx/esm/api')
  registerTsx()
  await import(source.href)
} else {
  await import(new URL('../dist/main.js', import.meta.url).href)
}
