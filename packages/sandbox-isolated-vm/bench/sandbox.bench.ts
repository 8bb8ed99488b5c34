// `pnpm bench sandbox`: the processEvent chain over JSON events, sandboxed in isolated-vm versus the
// same plugin code called in-process with no sandbox. Both sides decode each event from JSON,
// run the chain and encode the result, as a pipeline between a queue and a sink must.
import { cpus } from 'node:os'
import { chunkLanes, type JsonCallOutcome, type PluginInstance } from '@sluice/core'
import { transform } from 'sucrase'
import { createIsolatedVmSandbox } from '../src/index.js'
import { createStack, pluginSource } from '../test/stack.js'

const BATCH = 500
const BATCHES = Number(process.env.SLUICE_BENCH_BATCHES ?? 40)
const ROUNDS = 5
/** As core's pipeline chunks a team's batch (runtime/pipeline.ts). */
const CHAIN_CHUNK = 128

// Three plugins of the kind real pipelines run: a property transformation, a filter-and-tag, an
// enrichment that derives fields from the URL.
const PLUGINS = [
  `export function processEvent(event) {
     const props = event.properties ?? {}
     for (const key of Object.keys(props)) if (key.startsWith('$secret')) delete props[key]
     props.normalized_event = event.event.toLowerCase().trim()
     event.properties = props
     return event
   }`,
  `export function processEvent(event, { config }) {
     if (event.event === config.dropEvent) return null
     event.properties.tags = [...(event.properties.tags ?? []), 'seen']
     return event
   }`,
  `export function processEvent(event) {
     const url = event.properties.$current_url
     if (typeof url === 'string') {
       const query = url.indexOf('?')
       event.properties.path = query < 0 ? url : url.slice(0, query)
       event.properties.utm_source = /[?&]utm_source=([^&]*)/.exec(url)?.[1] ?? null
     }
     return event
   }`,
]
const CONFIG = { dropEvent: 'never-sent' }

function makeEvents(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      uuid: `0190a0b0-0000-7000-8000-${String(i).padStart(12, '0')}`,
      distinct_id: `user-${i % 50}`,
      ip: '127.0.0.1',
      site_url: 'https://app.example.com',
      team_id: 2,
      now: '2026-11-21T10:00:00.000Z',
      event: i % 3 === 0 ? '$pageview' : 'Clicked Button',
      timestamp: '2026-11-21T09:59:59.000Z',
      properties: {
        $current_url: `https://app.example.com/products/${i % 100}?utm_source=newsletter&ref=${i}`,
        $browser: 'Chrome',
        $browser_version: 131,
        $os: 'Mac OS X',
        $screen_height: 1080,
        $screen_width: 1920,
        $lib: 'web',
        $lib_version: '1.200.0',
        $secret_token: 'abc',
        $device_id: `device-${i % 50}`,
        $session_id: `session-${i % 20}`,
        plan: 'enterprise',
        items_in_cart: i % 7,
        referrer: 'https://www.example.org/some/long/referrer/path?with=query&and=more',
        tags: ['a', 'b'],
        nested: { a: 1, b: [1, 2, 3], c: { d: 'e' } },
      },
      $set: { email: `user${i % 50}@example.com`, name: `User ${i % 50}` },
    }),
  )
}

type ProcessEvent = (event: unknown, meta: unknown) => unknown

function inProcessPlugin(code: string): ProcessEvent {
  const module = { exports: {} as Record<string, ProcessEvent> }
  const body = transform(code, { transforms: ['imports'], disableESTransforms: true }).code
  new Function('exports', 'module', body)(module.exports, module)
  return module.exports.processEvent as ProcessEvent
}

async function runInProcess(chain: ProcessEvent[], batches: string[][]): Promise<number> {
  const meta = { config: CONFIG, global: {} }
  let out = 0
  for (const batch of batches) {
    for (const raw of batch) {
      let event: unknown = JSON.parse(raw)
      for (const plugin of chain) {
        event = plugin(event, meta)
        if (event === null || event === undefined) break
      }
      if (event !== null && event !== undefined) out += JSON.stringify(event).length > 0 ? 1 : 0
    }
  }
  return out
}

// As core's pipeline runs a chain: each event is decoded once (the queue's text is checked and,
// unchanged, handed in as it is); the batch is cut into chunks of whole lanes that go through the
// chain concurrently; each plugin's result is parsed once on the host (to check it) and its text
// handed to the next plugin; the final event is encoded for the sink.
interface Item {
  event: unknown
  json: string
  lane: string
}

async function runChunk(chain: PluginInstance[], chunk: Item[]): Promise<Item[]> {
  let items = chunk
  for (const instance of chain) {
    const outcomes = await instance.callEachJson('processEvent', items)
    items = items.flatMap((item, i) => {
      const outcome = outcomes[i] as JsonCallOutcome
      if (!outcome.ok) return [item]
      const event = outcome.json === null ? null : JSON.parse(outcome.json)
      return event === null ? [] : [{ event, json: outcome.json as string, lane: item.lane }]
    })
  }
  return items
}

async function runSandboxed(chain: PluginInstance[], batches: string[][]): Promise<number> {
  let out = 0
  for (const batch of batches) {
    const items = batch.map((raw) => {
      const event = JSON.parse(raw) as { distinct_id: string }
      return { event, json: raw, lane: event.distinct_id }
    })
    const chunks = chunkLanes(items, (item) => item.lane, CHAIN_CHUNK)
    const kept = (await Promise.all(chunks.map((chunk) => runChunk(chain, chunk)))).flat()
    for (const item of kept) out += JSON.stringify(item.event).length > 0 ? 1 : 0
  }
  return out
}

async function measure(name: string, run: () => Promise<number>, events: number): Promise<number> {
  await run() // warm up
  const rates: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint()
    const out = await run()
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    if (out !== events) throw new Error(`${name}: expected ${events} events out, got ${out}`)
    rates.push(events / seconds)
  }
  rates.sort((a, b) => a - b)
  const median = rates[Math.floor(rates.length / 2)] as number
  console.log(`  ${name.padEnd(28)} ${Math.round(median).toLocaleString('en-US').padStart(10)} events/s`)
  return median
}

async function main() {
  const raw = makeEvents(BATCH * BATCHES)
  const batches = Array.from({ length: BATCHES }, (_, b) => raw.slice(b * BATCH, (b + 1) * BATCH))
  const total = raw.length
  const sandbox = createIsolatedVmSandbox()
  const stack = createStack()
  const instances: PluginInstance[] = []
  for (const [index, code] of PLUGINS.entries()) {
    const loaded = await sandbox.load({
      ...pluginSource({ 'index.js': code }, { name: `p${index}` }),
      pluginId: index + 1,
    })
    instances.push(await loaded.instantiate(stack.hostFor(loaded, `p${index}`, { config: CONFIG })))
  }
  const inProcess = PLUGINS.map(inProcessPlugin)

  console.log(
    `Node ${process.version}, ${cpus().length} cores; ${total} events of ~${Math.round(raw.reduce((s, e) => s + e.length, 0) / total)} bytes, batches of ${BATCH}, median of ${ROUNDS} rounds`,
  )
  const results: Array<[string, number]> = []
  for (const size of [1, 3]) {
    const baseline = await measure(
      `${size}-plugin chain, in-process`,
      () => runInProcess(inProcess.slice(0, size), batches),
      total,
    )
    const sandboxed = await measure(
      `${size}-plugin chain, isolated-vm`,
      () => runSandboxed(instances.slice(0, size), batches),
      total,
    )
    results.push([`${size}-plugin chain`, sandboxed / baseline])
  }
  console.log('Ratios (sandboxed / in-process; targets: 1 plugin ≥ 0.8, 3 plugins ≥ 0.5):')
  for (const [name, ratio] of results) console.log(`  ${name.padEnd(28)} ${ratio.toFixed(2)}`)
  await sandbox.close()
  await stack.telemetry.close()
}

await main()
