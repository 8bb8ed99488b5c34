// `pnpm bench configs`: memory per loaded plugin config. One plugin, 1,000 configs (teams 1..1000)
// created through the admin API on the embedded default; the process's RSS and heap are measured,
// after full garbage collections, before the first config, with one, half of them and all of them.
// Then every team sends events, and the run fails unless each config processed its own.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  type BenchServer,
  describeMachine,
  formatNumber,
  installBenchPlugin,
  sdkEvent,
  startBenchServer,
} from './support.js'

const CONFIGS = Number(process.env.SLUICE_BENCH_CONFIGS ?? 1_000)
const CONCURRENT_REQUESTS = 4
const SETTLE_TIMEOUT_MS = 120_000
const EVENTS_PER_TEAM = 5

// Exposes gc() at run time, so `pnpm bench` needs no --expose-gc flag.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

interface Memory {
  rss: number
  heapUsed: number
  external: number
}

async function measure(): Promise<Memory> {
  for (let round = 0; round < 3; round++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

interface FailedConfig {
  id: number
  teamId: number
  error: { message: string }
}

/**
 * Waits until each of the `count` configs is ready on this server or was disabled with an error
 * (which the admin API shows); returns how many are ready and the failed ones.
 */
async function settle(bench: BenchServer, count: number) {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  let lastReady = -1
  for (;;) {
    const ready = bench.server.runtime.configs.all().filter((config) => config.status === 'ready').length
    if (ready >= count) return { ready, failed: [] as FailedConfig[] }
    if (ready === lastReady) {
      const { configs } = (await bench.admin('GET', '/api/configs')) as { configs: FailedConfig[] }
      const failed = configs.filter((config) => config.error !== null)
      if (ready + failed.length >= count) return { ready, failed }
    }
    if (Date.now() > deadline)
      throw new Error(`only ${ready} of ${count} configs became ready within 2 minutes`)
    lastReady = ready
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`
const kb = (bytes: number) => `${formatNumber(bytes / 1024)} KB`

async function main() {
  const tokenOf = (teamId: number) => `phc_team_${teamId}`
  const bench = await startBenchServer({
    SLUICE_PROJECT_TOKENS: Array.from({ length: CONFIGS }, (_, i) => `${tokenOf(i + 1)}=${i + 1}`).join(','),
  })
  try {
    const pluginId = await installBenchPlugin(bench, 'bench-url')
    let nextTeam = 1
    const createUpTo = async (count: number) => {
      const started = Date.now()
      const create = async () => {
        for (let teamId = nextTeam++; teamId <= count; teamId = nextTeam++) {
          await bench.admin('POST', '/api/configs', { pluginId, teamId, enabled: true })
        }
      }
      await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, create))
      nextTeam = count + 1
      const settled = await settle(bench, count)
      return { ...settled, seconds: (Date.now() - started) / 1000, memory: await measure() }
    }

    console.log(
      `${describeMachine()}; 1 plugin, ${formatNumber(CONFIGS)} configs (teams 1..${CONFIGS}) created through the admin API, ${CONCURRENT_REQUESTS} requests at a time; embedded server (PGlite in-process)`,
    )
    const row = (name: string, memory: Memory, note = '') =>
      console.log(
        `  ${name.padEnd(26)} RSS ${mb(memory.rss).padStart(9)}, heap used ${mb(memory.heapUsed).padStart(8)}, external ${mb(memory.external).padStart(8)}${note}`,
      )
    const before = await measure()
    row('before (plugin installed)', before)
    const results = []
    for (const count of [1, Math.floor(CONFIGS / 2), CONFIGS]) {
      const result = await createUpTo(count)
      results.push({ count, ...result })
      row(
        `${formatNumber(count)} config${count === 1 ? '' : 's'}`,
        result.memory,
        `; ${result.ready} ready, ${result.failed.length} failed (${result.seconds.toFixed(1)} s to create and load)`,
      )
      for (const failed of result.failed) {
        console.log(`    config ${failed.id} (team ${failed.teamId}) failed: ${failed.error.message}`)
      }
    }
    const sent = Date.now()
    const post = async (first: number) => {
      for (let teamId = first; teamId <= CONFIGS; teamId += CONCURRENT_REQUESTS) {
        const batch = Array.from({ length: EVENTS_PER_TEAM }, (_, i) =>
          sdkEvent(teamId * EVENTS_PER_TEAM + i, sent),
        )
        const response = await fetch(`${bench.server.url}/batch/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: tokenOf(teamId), batch }),
        })
        if (!response.ok) throw new Error(`team ${teamId}: /batch/ answered ${response.status}`)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, (_, i) => post(i + 1)))
    const expected = CONFIGS * EVENTS_PER_TEAM
    const sinkFile = join(bench.dataDir, 'events.jsonl')
    const deadline = Date.now() + SETTLE_TIMEOUT_MS
    let lines: string[] = []
    while (lines.length < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      lines = (await readFile(sinkFile, 'utf8').catch(() => '')).split('\n').filter(Boolean)
    }
    const processed = new Set<number>()
    for (const line of lines) {
      const event = JSON.parse(line) as { team_id: number; properties: { path?: string } }
      if (typeof event.properties.path === 'string') processed.add(event.team_id)
    }
    const afterEvents = await measure()
    const stillReady = bench.server.runtime.configs.all().filter((config) => config.status === 'ready').length
    row(
      `${formatNumber(expected)} events sent`,
      afterEvents,
      `; ${lines.length} in the sink after ${((Date.now() - sent) / 1000).toFixed(1)} s, ${processed.size} teams processed by their config, ${stillReady} configs ready`,
    )
    if (processed.size < CONFIGS || stillReady < CONFIGS) {
      throw new Error(`only ${processed.size} of ${CONFIGS} configs processed their team's events`)
    }
    const [one, half, all] = results as [
      (typeof results)[number],
      (typeof results)[number],
      (typeof results)[number],
    ]
    console.log(
      `  per config, (${formatNumber(CONFIGS)} − before) / ${formatNumber(CONFIGS)}: RSS ${kb((all.memory.rss - before.rss) / CONFIGS)}, heap ${kb((all.memory.heapUsed - before.heapUsed) / CONFIGS)}`,
    )
    console.log(
      `  per config, (${formatNumber(half.count)} − 1) / ${formatNumber(half.count - 1)}: RSS ${kb((half.memory.rss - one.memory.rss) / (half.count - 1))}, heap ${kb((half.memory.heapUsed - one.memory.heapUsed) / (half.count - 1))}  (the first config also builds the plugin's isolate: RSS ${kb(one.memory.rss - before.rss)})`,
    )
  } finally {
    await bench.stop()
  }
}

await main()
