// `sluice serve` runs under the young generation node-flags.mjs sizes: the launcher replaces its
// own process with one that has the flags. /proc shows a process's command line, so Linux only.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { serverNodeFlags } from '../bin/node-flags.mjs'
import { tempRoot } from './helpers.js'

const bin = join(import.meta.dirname, '..', 'bin', 'sluice.mjs')
const children: ReturnType<typeof spawn>[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Starts `sluice serve` and, once it answers /healthz, returns the pid spawned and its command line. */
async function serving(env: Record<string, string>): Promise<{ spawned: number; args: string[] }> {
  const dataDir = tempRoot()
  const port = await freePort()
  const child = spawn(process.execPath, [bin, 'serve'], {
    cwd: dataDir,
    env: { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_PORT: String(port), ...env },
    stdio: 'ignore',
  })
  children.push(child)
  const deadline = Date.now() + 45_000
  while (
    !(await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('sluice serve did not start')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const spawned = child.pid as number
  return { spawned, args: readFileSync(`/proc/${spawned}/cmdline`, 'utf8').split('\0').filter(Boolean) }
}

describe.runIf(process.platform === 'linux' && typeof process.execve === 'function')('sluice serve', () => {
  it('serves from the process it was started as, with the young generation sized for the server', async () => {
    const { args } = await serving({ NODE_OPTIONS: '' })
    expect(args.slice(1, 3)).toEqual(serverNodeFlags())
    expect(args.slice(-2)).toEqual([bin, 'serve'])
  })

  it('leaves the young generation to an operator who sized it', async () => {
    const { args } = await serving({ NODE_OPTIONS: '--max-semi-space-size=32' })
    expect(args.filter((arg) => arg.includes('semi-space'))).toEqual([])
  })
})
