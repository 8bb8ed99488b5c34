import { createManualClock } from '../src/manual-clock.js'
import type { HealthPolicy } from '../src/policy/index.js'
import type { Fetch } from '../src/ports/fetch.js'
import type { QueueMessage } from '../src/ports/queue.js'
import { createCapture, createCaptureDepth } from '../src/runtime/capture.js'
import { createConfigManager } from '../src/runtime/config-manager.js'
import { createHealthWatcher } from '../src/runtime/health-watcher.js'
import { createJobRunner } from '../src/runtime/job-runner.js'
import { createPipeline } from '../src/runtime/pipeline.js'
import { createTelemetry } from '../src/runtime/telemetry.js'
import {
  createCacheDouble,
  createDeadLetterDouble,
  createJobQueueDouble,
  createLogSinkDouble,
  createMetricsSinkDouble,
  createQueueDouble,
  createRegistryDouble,
  createSinkDouble,
  createStorageDouble,
} from './doubles.js'
import { createInProcessSandbox, type TestPluginModule } from './in-process-sandbox.js'

export const INGESTION = 'events_in'

/** Core's runtime over port doubles and the in-process sandbox, on a manual clock. */
export function createTestRuntime(
  modules: Record<string, TestPluginModule>,
  options: { fetch?: Fetch; healthPolicy?: Partial<HealthPolicy> } = {},
) {
  const clock = createManualClock(Date.UTC(2026, 10, 21, 12, 0, 0))
  const cache = createCacheDouble()
  const storage = createStorageDouble()
  const jobQueue = createJobQueueDouble()
  const registry = createRegistryDouble(clock)
  const logSink = createLogSinkDouble()
  const metricsSink = createMetricsSinkDouble()
  const deadLetters = createDeadLetterDouble(clock)
  const sink = createSinkDouble()
  const queue = createQueueDouble()
  const sandbox = createInProcessSandbox(modules)
  const telemetry = createTelemetry({ clock, logSink, metricsSink, instanceId: 'test' })
  let announcements = 0
  const health = createHealthWatcher({
    clock,
    registry,
    telemetry,
    announceChange: async () => {
      announcements += 1
    },
    ...(options.healthPolicy ? { policy: options.healthPolicy } : {}),
  })
  const captureDepth = createCaptureDepth()
  let uuids = 0
  const capture = createCapture({
    clock,
    queue,
    ingestionTopic: INGESTION,
    deadLetters,
    telemetry,
    depth: captureDepth,
    newUuid: () => `captured-${++uuids}`,
  })
  const configs = createConfigManager({
    clock,
    registry,
    sandbox,
    jobQueue,
    telemetry,
    health,
    hostServices: { clock, cache, storage, jobQueue, telemetry, capture },
  })
  const pipeline = createPipeline({
    clock,
    configs,
    sinks: [sink],
    deadLetters,
    jobQueue,
    telemetry,
    captureDepth,
    health,
  })
  const jobs = createJobRunner({
    clock,
    jobQueue,
    configs,
    deadLetters,
    telemetry,
    owner: 'test',
    health,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })

  let offset = 0
  const messages = (events: readonly unknown[]): QueueMessage[] =>
    events.map((event) => ({
      id: String(offset++),
      key: null,
      value: typeof event === 'string' ? event : JSON.stringify(event),
      deliveryAttempt: 1,
      publishedAt: clock.now(),
    }))

  return {
    clock,
    cache,
    storage,
    jobQueue,
    registry,
    logSink,
    metricsSink,
    deadLetters,
    sink,
    queue,
    sandbox,
    telemetry,
    health,
    configs,
    pipeline,
    jobs,
    /** How often the health watcher asked every instance to reload configs. */
    announcements: () => announcements,
    /** Installs a test module as a plugin and enables a config of it for a team. */
    async install(
      name: string,
      options: {
        teamId?: number
        order?: number
        config?: Record<string, unknown>
        manifest?: Record<string, unknown>
      } = {},
    ) {
      const plugin = await registry.createPlugin({
        name,
        version: 'v1',
        files: {
          'plugin.json': JSON.stringify({ name, ...(options.manifest ?? {}) }),
          'index.js': '/* test double */',
        },
      })
      const config = await registry.createConfig({
        pluginId: plugin.id,
        teamId: options.teamId ?? 1,
        enabled: true,
        order: options.order ?? 0,
        config: options.config ?? {},
      })
      return { plugin, config }
    },
    /** Feeds events through the pipeline as one consumed batch. */
    run: (events: readonly unknown[]) => pipeline.handleBatch(messages(events)),
    /** Plugin and system log messages, oldest first. */
    logs: async () => {
      await telemetry.flush()
      return logSink.entries.map((e) => `${e.level}: ${e.message}`)
    },
  }
}

let eventCounter = 0

/** A valid PluginEvent for team 1. */
export function event(overrides: Record<string, unknown> = {}) {
  eventCounter += 1
  return {
    uuid: `uuid-${eventCounter}`,
    distinct_id: 'user-1',
    ip: '127.0.0.1',
    site_url: 'https://example.com',
    team_id: 1,
    now: '2026-11-21T12:00:00.000Z',
    event: 'pageview',
    properties: { path: '/' },
    ...overrides,
  }
}
