// `pnpm bench [name ...]`: runs the workspace's benchmark scripts (`<package>/bench/<name>.bench.ts`),
// each in its own Node process, from TypeScript source. With no name it runs them all.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serverNodeFlags } from '../apps/cli/bin/node-flags.mjs'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
// Resolved from here, so every package's benchmark can use it without depending on it.
const tsx = import.meta.resolve('tsx')
const suffix = '.bench.ts'

const benchmarks = new Map()
for (const group of ['packages', 'apps']) {
  const groupDir = join(root, group)
  if (!existsSync(groupDir)) continue
  for (const pkg of readdirSync(groupDir)) {
    const benchDir = join(groupDir, pkg, 'bench')
    if (!existsSync(benchDir)) continue
    for (const file of readdirSync(benchDir)) {
      if (file.endsWith(suffix)) benchmarks.set(basename(file, suffix), join(benchDir, file))
    }
  }
}

const requested = process.argv.slice(2)
const unknown = requested.filter((name) => !benchmarks.has(name))
if (unknown.length > 0) {
  console.error(`Unknown benchmark: ${unknown.join(', ')}. Available: ${[...benchmarks.keys()].join(', ')}`)
  process.exit(2)
}

let failed = false
for (const name of requested.length > 0 ? requested : [...benchmarks.keys()]) {
  const file = benchmarks.get(name)
  console.log(`\n▶ ${name} (${relative(root, file)})`)
  // Benchmarks run the server in their own process: under the flags `sluice serve` runs with.
  const args = [...serverNodeFlags(), '--conditions=sluice-source', '--import', tsx, file]
  const run = spawnSync(process.execPath, args, {
    cwd: dirname(dirname(file)),
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  if (run.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
