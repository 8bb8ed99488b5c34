// Test double of the Sandbox port: "plugins" are objects of functions in this realm. Arguments
// and results are copied (as the real sandbox copies across its boundary), lanes are honoured,
// and `meta` is built over the PluginHost the way a sandbox must build it.
import { isRetryError } from '../src/errors.js'
import { groupIntoLanes, parseMetricsDeclaration, runLanes } from '../src/policy/index.js'
import {
  type CallOutcome,
  type JsonCallOutcome,
  type LaneCall,
  type LoadedPlugin,
  PLUGIN_FUNCTION_NAMES,
  PluginCallError,
  type PluginFailure,
  type PluginHost,
  type PluginInstance,
  type PluginSource,
  type Sandbox,
} from '../src/ports/sandbox.js'
import { TEAM_ID_CHANGED } from '../src/runtime/pipeline.js'

// biome-ignore lint/suspicious/noExplicitAny: plugin modules are untyped user code
export type TestPluginModule = Record<string, any>

/** Builds the plugin-facing `meta` over a host, as every sandbox must. */
export function buildMeta(host: PluginHost, jobNames: readonly string[], global: Record<string, unknown>) {
  const jobs: Record<string, (payload: unknown) => unknown> = {}
  for (const name of jobNames) {
    jobs[name] = (payload) => ({
      runNow: () => host.enqueueJob(name, payload, { kind: 'now' }),
      runIn: (amount: number, unit: string) => host.enqueueJob(name, payload, { kind: 'in', amount, unit }),
      runAt: (date: Date) => host.enqueueJob(name, payload, { kind: 'at', date: date.getTime() }),
    })
  }
  const metrics = new Proxy(
    {},
    {
      get: (_target, name) => ({
        increment: (value: unknown) => host.updateMetric(String(name), 'increment', value),
        max: (value: unknown) => host.updateMetric(String(name), 'max', value),
        min: (value: unknown) => host.updateMetric(String(name), 'min', value),
      }),
    },
  )
  return {
    config: host.config,
    attachments: host.attachments,
    global,
    cache: host.cache,
    storage: host.storage,
    utils: { cursor: host.cursor },
    jobs,
    metrics,
    geoip: { locate: (ip: string) => host.locateIp(ip) },
    posthog: {
      capture: (event: string, properties?: Record<string, unknown>) => host.capture(event, properties),
    },
  }
}

const toFailure = (error: unknown): PluginFailure => ({
  name: error instanceof Error ? error.name : 'Error',
  message: error instanceof Error ? error.message : String(error),
  retry: isRetryError(error),
  timeout: false,
})

/** A sandbox over in-realm modules, keyed by plugin name. */
export function createInProcessSandbox(
  modules: Record<string, TestPluginModule>,
): Sandbox & { loads: number } {
  const sandbox = {
    loads: 0,
    capabilities: { isolation: 'none', enforcesTimeouts: false, enforcesMemoryLimit: false } as const,
    memoryUsage: async () => [],
    async load(source: PluginSource): Promise<LoadedPlugin> {
      const module = modules[source.name]
      if (!module) throw new Error(`no test module named ${source.name}`)
      sandbox.loads += 1
      const functions = PLUGIN_FUNCTION_NAMES.filter((fn) => typeof module[fn] === 'function')
      const jobNames = Object.keys(module.jobs ?? {})
      return {
        capabilities: {
          functions,
          schedules: functions.filter((fn) => fn.startsWith('runEvery')) as never,
          jobs: jobNames,
          metrics: parseMetricsDeclaration(module.metrics),
        },
        async instantiate(host): Promise<PluginInstance> {
          if (typeof module.failInstantiate === 'string') throw new Error(module.failInstantiate)
          const global: Record<string, unknown> = {}
          const meta = buildMeta(host, jobNames, global)
          let disposed = false
          const invoke = async (fn: string, args: readonly unknown[]) => {
            if (disposed) throw new Error('instance disposed')
            const target = fn.startsWith('jobs.') ? module.jobs?.[fn.slice(5)] : module[fn]
            const copied = structuredClone(args)
            return structuredClone(await target(...copied, meta))
          }
          const instance: PluginInstance = {
            async call(fn, args) {
              try {
                return await invoke(fn, args)
              } catch (error) {
                throw new PluginCallError(fn, toFailure(error))
              }
            },
            async callEach(fn, calls: readonly LaneCall[]) {
              const outcomes: CallOutcome[] = new Array(calls.length)
              const lanes = groupIntoLanes([...calls.keys()], (index) => (calls[index] as LaneCall).lane)
              await runLanes(lanes, Math.max(1, lanes.length), async (index) => {
                try {
                  outcomes[index] = { ok: true, value: await invoke(fn, (calls[index] as LaneCall).args) }
                } catch (error) {
                  outcomes[index] = { ok: false, failure: toFailure(error) }
                }
              })
              return outcomes
            },
            async callEachJson(fn, calls) {
              const args = calls.map((call) => JSON.parse(call.json))
              // Read before the call: plugins may change the argument in place.
              const teams = args.map((arg) => arg?.team_id)
              const outcomes = await instance.callEach(
                fn,
                calls.map((call, index) => ({ lane: call.lane, args: [args[index]] })),
              )
              return outcomes.map((outcome, index): JsonCallOutcome => {
                if (!outcome.ok) return outcome
                const value = outcome.value as { team_id?: unknown } | null | undefined
                const isEvent = typeof value === 'object' && value !== null && !Array.isArray(value)
                if (fn === 'processEvent' && isEvent && value.team_id !== teams[index]) {
                  return {
                    ok: false,
                    failure: { name: 'Error', message: TEAM_ID_CHANGED, retry: false, timeout: false },
                  }
                }
                return { ok: true, json: JSON.stringify(outcome.value) ?? null }
              })
            },
            async dispose() {
              disposed = true
            },
          }
          return instance
        },
        async dispose() {},
      }
    },
    async close() {},
  }
  return sandbox
}
