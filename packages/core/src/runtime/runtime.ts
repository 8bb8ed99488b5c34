import { describeError } from '../errors.js'
import type { HealthPolicy } from '../policy/index.js'
import type { Bus, Unsubscribe } from '../ports/bus.js'
import type { Cache } from '../ports/cache.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type { DeadLetterStore } from '../ports/dead-letter.js'
import type { Fetch } from '../ports/fetch.js'
import type { GeoIp } from '../ports/geoip.js'
import type { JobQueue } from '../ports/job-queue.js'
import type { Lock } from '../ports/lock.js'
import type { LogSink } from '../ports/log-sink.js'
import type { MetricsSink } from '../ports/metrics-sink.js'
import type { QueueMessage, QueueSubscription, QueueTransport } from '../ports/queue.js'
import type { Registry } from '../ports/registry.js'
import type { Sandbox } from '../ports/sandbox.js'
import type { Sink } from '../ports/sink.js'
import type { Storage } from '../ports/storage.js'
import { createCapture, createCaptureDepth } from './capture.js'
import { type ConfigManager, createConfigManager } from './config-manager.js'
import { createDeadLetterReplay, type ReplayResult } from './dead-letter-replay.js'
import { createHealthWatcher, type HealthWatcher } from './health-watcher.js'
import { createJobRunner, type JobRunner } from './job-runner.js'
import { createPipeline, type Pipeline } from './pipeline.js'
import type { PostHogApiSettings } from './plugin-host.js'
import { createScheduler, type Scheduler } from './scheduler.js'
import { createTelemetry, type Telemetry } from './telemetry.js'

/** The bus channel on which config changes are announced to every instance. */
export const CONFIG_CHANGED_CHANNEL = 'sluice:config-changed'

/** Everything the runtime runs on: one adapter per port, chosen by the app. */
export interface SluiceRuntimeOptions {
  clock: Clock
  queue: QueueTransport
  sinks: readonly Sink[]
  cache: Cache
  storage: Storage
  jobQueue: JobQueue
  lock: Lock
  bus: Bus
  registry: Registry
  logSink: LogSink
  metricsSink: MetricsSink
  deadLetters: DeadLetterStore
  sandbox: Sandbox
  fetch?: Fetch
  geoip?: GeoIp
  posthogApi?: PostHogApiSettings
  /** Unique per process: owner of locks and leases, stamped on logs. */
  instanceId: string
  /** Creates event uuids (captured events). */
  newUuid: () => string
  /**
   * The ingestion topic.
   * @default 'sluice_events'
   */
  ingestionTopic?: string
  /**
   * The consumer group of the ingestion topic.
   * @default 'sluice'
   */
  consumerGroup?: string
  /**
   * Events per consumed batch.
   * @default 500
   */
  maxBatchSize?: number
  /**
   * How often configs are reconciled with the registry even without a bus notice.
   * @default 30000
   */
  reconcileIntervalMs?: number
  /** Overrides of the health watcher's policy (`DEFAULT_HEALTH_POLICY`). */
  healthPolicy?: Partial<HealthPolicy>
  /** Called with errors that have no better place to go (failed reconciles, telemetry writes). */
  onError?: (error: unknown) => void
}

/** A running Sluice: pipeline, jobs, schedules and config reloads over the given adapters. */
export interface SluiceRuntime {
  readonly configs: ConfigManager
  readonly pipeline: Pipeline
  readonly jobs: JobRunner
  readonly scheduler: Scheduler
  readonly telemetry: Telemetry
  /** Per-config health on this instance: `list`, `get`, and the operator's `reset` and `pause`. */
  readonly health: HealthWatcher
  /** Loads configs, then starts consuming, running jobs and schedules, and listening for changes. */
  start(): Promise<void>
  /**
   * How far processing is behind the ingestion queue, in ms: the age of the oldest message of the
   * batches being handled now (by its `publishedAt`), 0 while none is.
   */
  queueLagMs(): number
  /** Tells every instance (this one included) to reload changed configs. */
  announceConfigChange(): Promise<void>
  /**
   * Puts dead letters back where they came from (ingestion topic, job queue or sinks) and removes
   * each from the store once re-queued; an entry that cannot be re-queued stays, with the reason.
   */
  replayDeadLetters(ids: readonly string[]): Promise<ReplayResult>
  /**
   * Graceful stop: stop consuming (in-flight batches finish and commit), stop jobs and schedules,
   * finish pending health disables, tear every config down, flush telemetry.
   */
  stop(): Promise<void>
}

/** Composes core's runtime over the given adapters. */
export function createSluiceRuntime(options: SluiceRuntimeOptions): SluiceRuntime {
  const { clock, queue, bus, instanceId } = options
  const ingestionTopic = options.ingestionTopic ?? 'sluice_events'
  const onError = options.onError ?? (() => {})
  const telemetry = createTelemetry({
    clock,
    logSink: options.logSink,
    metricsSink: options.metricsSink,
    instanceId,
    onError,
  })
  const announceConfigChange = () => bus.publish(CONFIG_CHANGED_CHANNEL, String(clock.now()))
  const health = createHealthWatcher({
    clock,
    registry: options.registry,
    telemetry,
    announceChange: announceConfigChange,
    ...(options.healthPolicy ? { policy: options.healthPolicy } : {}),
    onError,
  })
  const captureDepth = createCaptureDepth()
  const capture = createCapture({
    clock,
    queue,
    ingestionTopic,
    deadLetters: options.deadLetters,
    telemetry,
    depth: captureDepth,
    newUuid: options.newUuid,
  })
  const configs = createConfigManager({
    clock,
    registry: options.registry,
    sandbox: options.sandbox,
    jobQueue: options.jobQueue,
    telemetry,
    health,
    hostServices: {
      clock,
      cache: options.cache,
      storage: options.storage,
      jobQueue: options.jobQueue,
      telemetry,
      capture,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.geoip ? { geoip: options.geoip } : {}),
      ...(options.posthogApi ? { posthogApi: options.posthogApi } : {}),
    },
  })
  const pipeline = createPipeline({
    clock,
    configs,
    sinks: options.sinks,
    deadLetters: options.deadLetters,
    jobQueue: options.jobQueue,
    telemetry,
    captureDepth,
    health,
  })
  const jobs = createJobRunner({
    clock,
    jobQueue: options.jobQueue,
    configs,
    deadLetters: options.deadLetters,
    telemetry,
    owner: instanceId,
    health,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
  const scheduler = createScheduler({
    clock,
    lock: options.lock,
    configs,
    telemetry,
    owner: instanceId,
    health,
  })
  const deadLetterReplay = createDeadLetterReplay({
    clock,
    deadLetters: options.deadLetters,
    queue,
    ingestionTopic,
    jobQueue: options.jobQueue,
    sinks: options.sinks,
  })

  let subscription: QueueSubscription | null = null
  let unsubscribe: Unsubscribe | null = null
  let reconcileTimer: TimerHandle | null = null
  let running = false
  /** The oldest `publishedAt` of each batch being handled (a few: one per partition at most). */
  const handling: number[] = []
  const handleBatch = async (messages: readonly QueueMessage[]) => {
    let oldest = Number.POSITIVE_INFINITY
    for (const message of messages) if (message.publishedAt < oldest) oldest = message.publishedAt
    handling.push(oldest)
    try {
      await pipeline.handleBatch(messages)
    } finally {
      handling.splice(handling.indexOf(oldest), 1)
    }
  }

  const reconcile = () =>
    configs.reconcile().catch((error) => onError(new Error(`config reload failed: ${describeError(error)}`)))
  const armReconcile = () => {
    if (!running) return
    reconcileTimer = clock.setTimer(options.reconcileIntervalMs ?? 30_000, () => {
      void reconcile().then(armReconcile)
    })
  }

  return {
    configs,
    pipeline,
    jobs,
    scheduler,
    telemetry,
    health,
    async start() {
      running = true
      unsubscribe = await bus.subscribe(CONFIG_CHANGED_CHANNEL, () => void reconcile())
      await configs.reconcile()
      armReconcile()
      jobs.start()
      scheduler.start()
      subscription = await queue.consume(
        ingestionTopic,
        { group: options.consumerGroup ?? 'sluice', maxBatchSize: options.maxBatchSize ?? 500 },
        handleBatch,
      )
    },
    queueLagMs: () => (handling.length === 0 ? 0 : Math.max(0, clock.now() - Math.min(...handling))),
    announceConfigChange,
    replayDeadLetters: (ids) => deadLetterReplay.replay(ids),
    async stop() {
      running = false
      reconcileTimer?.cancel()
      await subscription?.stop()
      subscription = null
      await unsubscribe?.()
      unsubscribe = null
      await Promise.all([jobs.stop(), scheduler.stop()])
      await health.flush()
      await configs.close()
      await telemetry.close()
    },
  }
}
