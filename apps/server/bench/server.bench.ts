// `pnpm bench server`: capture → in-memory queue → 3 plugins → file sink, on the embedded default.
// Concurrent HTTP clients post /batch/ requests; the sink file is followed to count the events
// written and time each one from its send to its line in the file. Two runs: a saturating load for
// throughput, then a paced load at half that rate for end-to-end latency.
import { once } from 'node:events'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { LoadOptions, LoadResult } from './capture-load.worker.js'
import {
  describeMachine,
  formatNumber,
  installThreePlugins,
  percentile,
  startBenchServer,
  waitUntilReady,
} from './support.js'

const CLIENTS = Number(process.env.SLUICE_BENCH_CLIENTS ?? 8)
const BATCH = Number(process.env.SLUICE_BENCH_BATCH ?? 100)
const SECONDS = Number(process.env.SLUICE_BENCH_SECONDS ?? 10)
const PACED_SHARE = 0.5

async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const worker = new Worker(new URL('./capture-load.worker.ts', import.meta.url), { workerData: options })
  try {
    const [result] = (await once(worker, 'message')) as [LoadResult]
    return result
  } finally {
    await worker.terminate()
  }
}

const row = (name: string, value: string) => console.log(`  ${name.padEnd(36)} ${value}`)
const latencies = (sorted: readonly number[]) =>
  `p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms, max ${sorted.at(-1)} ms`

async function main() {
  const bench = await startBenchServer()
  try {
    await installThreePlugins(bench, 1)
    await waitUntilReady(bench.server, 3)
    const base = {
      url: bench.server.url,
      sinkFile: join(bench.dataDir, 'events.jsonl'),
      clients: CLIENTS,
      batchSize: BATCH,
      pollMs: 20,
      drainTimeoutMs: 30_000,
    }
    console.log(
      `${describeMachine()}; ${CLIENTS} clients posting /batch/ with ${BATCH} events; 3 plugins; file sink (datasync per write)`,
    )

    const saturated = await runLoad({ ...base, durationMs: SECONDS * 1000, maxBacklog: 4 * CLIENTS * BATCH })
    const loadSeconds = (saturated.endedAt - saturated.startedAt) / 1000
    const throughput = saturated.writtenDuringLoad / loadSeconds
    console.log(
      `Saturating load for ${SECONDS} s (clients wait while over ${4 * CLIENTS * BATCH} events are queued):`,
    )
    row(
      'capture (HTTP 200 = queued)',
      `${formatNumber(saturated.eventsAccepted / loadSeconds).padStart(7)} events/s, ${formatNumber(saturated.requests / loadSeconds)} requests/s, ${saturated.failures} failed`,
    )
    row('written to the sink', `${formatNumber(throughput).padStart(7)} events/s`)
    row('capture latency per request', latencies(saturated.captureLatencies))
    row('end to end (send → line in file)', latencies(saturated.endToEndLatencies))
    if (saturated.written < saturated.eventsAccepted) {
      throw new Error(`only ${saturated.written} of ${saturated.eventsAccepted} events reached the sink`)
    }

    const rate = Math.max(BATCH, Math.round((throughput * PACED_SHARE) / BATCH) * BATCH)
    const paced = await runLoad({
      ...base,
      durationMs: (SECONDS / 2) * 1000,
      maxBacklog: Number.POSITIVE_INFINITY,
      rate,
    })
    const pacedSeconds = (paced.endedAt - paced.startedAt) / 1000
    console.log(
      `Paced load at ${formatNumber(rate)} events/s (${PACED_SHARE * 100}% of that) for ${SECONDS / 2} s:`,
    )
    row(
      'capture (HTTP 200 = queued)',
      `${formatNumber(paced.eventsAccepted / pacedSeconds).padStart(7)} events/s`,
    )
    row('capture latency per request', latencies(paced.captureLatencies))
    row('end to end (send → line in file)', `${latencies(paced.endToEndLatencies)} (± 20 ms polling)`)
    if (paced.written < paced.eventsAccepted) {
      throw new Error(`only ${paced.written} of ${paced.eventsAccepted} events reached the sink`)
    }
  } finally {
    await bench.stop()
  }
}

await main()
