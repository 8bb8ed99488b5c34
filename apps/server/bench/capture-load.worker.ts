// The server benchmark's load, off the server's thread: HTTP clients post batches to /batch/ while
// the sink file is followed, timing each event from its send to the moment its line was read.
import { open, stat } from 'node:fs/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { sdkEvent } from './support.js'

/** How to load the server. */
export interface LoadOptions {
  url: string
  sinkFile: string
  clients: number
  batchSize: number
  durationMs: number
  /**
   * Clients wait while more than this many accepted events are not in the sink yet: the in-memory
   * queue takes whatever it is given, so without a bound a saturating load only grows its backlog.
   */
  maxBacklog: number
  /** Events per second over all clients; unset: as fast as the server answers. */
  rate?: number
  pollMs: number
  /** Longest wait, after the load, for the backlog to reach the sink. */
  drainTimeoutMs: number
}

/** What one load run measured. */
export interface LoadResult {
  startedAt: number
  endedAt: number
  requests: number
  failures: number
  eventsAccepted: number
  /** Events in the sink by the end of the load, and in all. */
  writtenDuringLoad: number
  written: number
  drainedAt: number
  /** Milliseconds from each request's send to its answer, sorted. */
  captureLatencies: number[]
  /** Milliseconds from each event's send to the moment its line was read, sorted. */
  endToEndLatencies: number[]
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function load(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = {
    startedAt: Date.now(),
    endedAt: 0,
    requests: 0,
    failures: 0,
    eventsAccepted: 0,
    writtenDuringLoad: 0,
    written: 0,
    drainedAt: 0,
    captureLatencies: [],
    endToEndLatencies: [],
  }
  let loading = true
  const follow = async () => {
    const sent = /"bench_sent_ms":(\d+)/
    const handle = await open(options.sinkFile, 'a+')
    let offset = (await stat(options.sinkFile)).size
    let partial = ''
    const chunk = Buffer.alloc(4 * 1024 * 1024)
    try {
      while (loading || result.written < result.eventsAccepted) {
        if (!loading && Date.now() > result.endedAt + options.drainTimeoutMs) return
        await sleep(options.pollMs)
        for (;;) {
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, offset)
          if (bytesRead === 0) break
          offset += bytesRead
          const now = Date.now()
          const lines = (partial + chunk.toString('utf8', 0, bytesRead)).split('\n')
          partial = lines.pop() ?? ''
          for (const line of lines) {
            const match = sent.exec(line)
            if (match === null) continue
            result.endToEndLatencies.push(now - Number(match[1]))
            result.written += 1
            result.drainedAt = now
          }
        }
      }
    } finally {
      await handle.close()
    }
  }
  const following = follow()

  const stopAt = result.startedAt + options.durationMs
  const interval =
    options.rate === undefined ? 0 : (options.clients * options.batchSize * 1000) / options.rate
  let next = 0
  const client = async (index: number) => {
    // Paced clients start spread over one interval, so the batches arrive evenly.
    if (interval > 0) await sleep((interval * index) / options.clients)
    let due = Date.now()
    while (Date.now() < stopAt) {
      if (result.eventsAccepted - result.written > options.maxBacklog) {
        await sleep(options.pollMs)
        continue
      }
      const sentAt = Date.now()
      const batch = Array.from({ length: options.batchSize }, () => sdkEvent(next++, sentAt))
      const response = await fetch(`${options.url}/batch/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: 'phc_bench', batch }),
      })
      await response.arrayBuffer()
      result.requests += 1
      if (response.ok) {
        result.eventsAccepted += options.batchSize
        result.captureLatencies.push(Date.now() - sentAt)
      } else result.failures += 1
      due += interval
      if (interval > 0) await sleep(due - Date.now())
    }
  }
  await Promise.all(Array.from({ length: options.clients }, (_, index) => client(index)))
  result.endedAt = Date.now()
  result.writtenDuringLoad = result.written
  loading = false
  await following
  result.captureLatencies.sort((a, b) => a - b)
  result.endToEndLatencies.sort((a, b) => a - b)
  return result
}

if (parentPort === null) throw new Error('capture-load.worker.ts runs as a worker thread of server.bench.ts')
parentPort.postMessage(await load(workerData as LoadOptions))
