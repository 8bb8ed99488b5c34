// `sluice serve` runs under the young generation apps/cli/bin/node-flags.mjs sizes: the launcher
// replaces its own process with one that has the flags. /proc shows a process's command line, so
// Linux only.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { serverNodeFlags } from '../../../cli/bin/node-flags.mjs'
import { killAllServers, spawnServer } from './harness.js'

const bin = fileURLToPath(new URL('../../../cli/bin/sluice.mjs', import.meta.url))
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)

describe.runIf(process.platform === 'linux' && typeof process.execve === 'function')('sluice serve', () => {
  afterEach(killAllServers)

  it('serves from the process it was started as, with the young generation sized for the server', async () => {
    const server = await spawnServer('heap', { NODE_OPTIONS: '' })
    const args = commandLine(server.pid)
    expect(args.slice(1, 3)).toEqual(serverNodeFlags())
    expect(args.slice(-2)).toEqual([bin, 'serve'])
  })

  it('leaves the young generation to an operator who sized it', async () => {
    const server = await spawnServer('heap-set', { NODE_OPTIONS: '--max-semi-space-size=32' })
    expect(commandLine(server.pid).filter((arg) => arg.includes('semi-space'))).toEqual([])
  })
})
