import { describeError, SluiceError } from '../errors.js'
import { type ProcessedPluginEvent, toPostHogEvent } from '../events.js'
import {
  EXPORT_EVENTS_RETRY_POLICY,
  ExportBuffer,
  type ExportBufferOptions,
  isRetryableStatus,
  nextRetry,
  ON_EVENT_RETRY_POLICY,
  type RetryPolicy,
  WEBHOOK_DELIVERY_POLICY,
} from '../policy/index.js'
import type { Clock, TimerHandle } from '../ports/clock.js'
import type { DeadLetterStore, NewDeadLetter } from '../ports/dead-letter.js'
import type { Fetch } from '../ports/fetch.js'
import type { Job, JobQueue } from '../ports/job-queue.js'
import { PluginCallError, type PluginFunctionName } from '../ports/sandbox.js'
import type { ConfigManager, LiveConfig } from './config-manager.js'
import { jobDeadLetterPayload } from './dead-letter-replay.js'
import type { HealthWatcher } from './health-watcher.js'
import { utf8Length } from './plugin-host.js'
import type { Telemetry } from './telemetry.js'
import { webhookDeliveryJob } from './webhook-job.js'

/** Options of {@link createJobRunner}. */
export interface JobRunnerOptions {
  clock: Clock
  jobQueue: JobQueue
  configs: ConfigManager
  deadLetters: DeadLetterStore
  telemetry: Telemetry
  /** Delivers composeWebhook requests; without it webhooks go to the dead-letter store. */
  fetch?: Fetch
  /** This instance's id: the owner of the jobs it claims. */
  owner: string
  /** Holds the jobs of paused configs until their pause ends; without it nothing is held. */
  health?: HealthWatcher
  /**
   * Jobs claimed per round.
   * @default 100
   */
  batchSize?: number
  /**
   * How long a claimed job stays leased (longer than any plugin call may take).
   * @default 120000
   */
  leaseMs?: number
  /**
   * Pause between rounds when nothing was due.
   * @default 250
   */
  pollIntervalMs?: number
}

/** Runs due jobs: plugin jobs, durable retries, exportEvents batches and webhook deliveries. */
export interface JobRunner {
  /** Claims and runs one round of due jobs; resolves with how many were claimed. */
  runDue(): Promise<number>
  /** Runs rounds until stopped. */
  start(): void
  /** Stops after the round in flight. */
  stop(): Promise<void>
}

/** While a config is still in setup, its jobs wait this long before being looked at again. */
const NOT_READY_DELAY_MS = 5_000

const failureOf = (error: unknown) => (error instanceof PluginCallError ? error.failure : null)

/** Creates the job runner. */
export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { clock, jobQueue, configs, deadLetters, telemetry, owner, health } = options
  const batchSize = options.batchSize ?? 100
  const leaseMs = options.leaseMs ?? 120_000
  const pollIntervalMs = options.pollIntervalMs ?? 250
  let running = false
  let timer: TimerHandle | null = null
  let round: Promise<unknown> = Promise.resolve()

  const log = (configId: number | null, teamId: number | null, level: 'warn' | 'error', message: string) => {
    if (configId !== null) telemetry.log({ configId, teamId: teamId ?? 0, level, source: 'system', message })
  }

  const complete = (job: Job) => jobQueue.complete(job.id, owner)

  /** Null when the config's jobs may run now, else when to look at them again (setup, pause). */
  const heldUntil = (config: LiveConfig) =>
    config.status !== 'ready' ? clock.now() + NOT_READY_DELAY_MS : (health?.heldUntil(config.id) ?? null)

  const retryOrGiveUp = async (
    job: Job,
    policy: RetryPolicy,
    config: LiveConfig,
    what: string,
    error: unknown,
  ) => {
    const failure = failureOf(error)
    const message = describeError(failure ?? error)
    const next = failure?.retry ? nextRetry(policy, job.attempt + 1, clock.now()) : null
    if (next && 'retryAt' in next) {
      await jobQueue.reschedule(job.id, owner, next.retryAt, job.attempt + 1)
      return
    }
    log(
      config.id,
      config.teamId,
      'error',
      `${what} failed${failure?.retry ? ` after ${job.attempt + 1} tries, giving up` : ''}: ${message}`,
    )
    await complete(job)
  }

  /** Runs a plugin function on the job's payload, with the onEvent retry policy. */
  const runPluginCall = async (job: Job, config: LiveConfig, fn: PluginFunctionName | `jobs.${string}`) => {
    try {
      await config.instance.call(fn, [JSON.parse(job.payload)])
      await complete(job)
    } catch (error) {
      await retryOrGiveUp(job, ON_EVENT_RETRY_POLICY, config, fn, error)
    }
  }

  const deliverWebhook = async (job: Job) => {
    const hook = JSON.parse(job.payload) as {
      url: string
      body: string
      headers?: Record<string, string>
      method?: string
    }
    const deadLetter = async (reason: string) => {
      await deadLetters.put([
        {
          source: 'webhook',
          reason,
          payload: job.payload,
          teamId: configs.get(job.configId ?? -1)?.teamId ?? null,
          configId: job.configId,
        },
      ])
      await complete(job)
    }
    if (!options.fetch)
      return deadLetter('no HTTP client is configured on this server, so webhooks cannot be delivered')
    let problem: string
    let retryable: boolean
    try {
      const response = await options.fetch.request({
        url: hook.url,
        method: hook.method ?? 'POST',
        headers: hook.headers ?? {},
        body: hook.body,
      })
      if (response.status >= 200 && response.status < 300) return complete(job)
      problem = `${hook.method ?? 'POST'} ${hook.url} answered ${response.status} ${response.statusText}`
      retryable = isRetryableStatus(response.status)
    } catch (error) {
      problem = `${hook.method ?? 'POST'} ${hook.url} failed: ${describeError(error)}`
      // A refused target (SSRF guard, bad URL) fails the same way every time; don't retry it.
      retryable = !(error instanceof SluiceError) || error.retryable
    }
    if (!retryable) return deadLetter(`${problem} (not retried: the same request would fail again)`)
    const next = nextRetry(WEBHOOK_DELIVERY_POLICY, job.attempt + 1, clock.now())
    if ('retryAt' in next) {
      await jobQueue.reschedule(job.id, owner, next.retryAt, job.attempt + 1)
      return
    }
    await deadLetter(`${problem} (after ${job.attempt + 1} tries)`)
  }

  const exportMetric = (config: LiveConfig, name: string, value: number) =>
    telemetry.recordMetric({ configId: config.id, name, operation: 'sum', value })

  /** Splits events the way the export buffer flushes them (SPEC §2.1): at the byte limit, an oversized event alone. */
  const chunk = (events: readonly ProcessedPluginEvent[], settings: ExportBufferOptions) => {
    const buffer = new ExportBuffer<ProcessedPluginEvent>(settings)
    const now = clock.now()
    const batches = events.flatMap((event) => buffer.add(event, utf8Length(JSON.stringify(event)), now))
    return [...batches, ...buffer.drain()]
  }

  const runExports = async (config: LiveConfig | undefined, jobs: Job[]) => {
    const events = jobs.flatMap((job) => JSON.parse(job.payload) as ProcessedPluginEvent[])
    if (!config) {
      const configId = jobs[0]?.configId ?? null
      await deadLetters.put([
        {
          source: 'export-events',
          reason: `plugin config ${configId} is not running, so these events could not be exported`,
          payload: JSON.stringify(events),
          teamId: events[0]?.team_id ?? null,
          configId,
        },
      ])
      await Promise.all(jobs.map(complete))
      return
    }
    const attempt = jobs[0]?.attempt ?? 0
    const retries: Parameters<JobQueue['enqueue']>[0][number][] = []
    const dead: NewDeadLetter[] = []
    for (const batch of chunk(events, config.exportSettings)) {
      try {
        await config.instance.call('exportEvents', [batch])
        exportMetric(config, 'events_delivered_successfully', batch.length)
      } catch (error) {
        const failure = failureOf(error)
        exportMetric(config, failure?.retry ? 'retry_errors' : 'other_errors', 1)
        const next = failure?.retry ? nextRetry(EXPORT_EVENTS_RETRY_POLICY, attempt + 1, clock.now()) : null
        if (next && 'retryAt' in next) {
          retries.push({
            kind: 'export-events',
            configId: config.id,
            name: 'exportEvents',
            payload: JSON.stringify(batch),
            runAt: next.retryAt,
            attempt: attempt + 1,
          })
          continue
        }
        exportMetric(config, 'undelivered_events', batch.length)
        const reason = `exportEvents failed${failure?.retry ? ` after ${attempt + 1} tries` : ''}: ${describeError(failure ?? error)}`
        log(
          config.id,
          config.teamId,
          'error',
          `${reason}; ${batch.length} events moved to the dead-letter store`,
        )
        dead.push({
          source: 'export-events',
          reason,
          payload: JSON.stringify(batch),
          teamId: config.teamId,
          configId: config.id,
        })
      }
    }
    if (retries.length > 0) await jobQueue.enqueue(retries)
    if (dead.length > 0) await deadLetters.put(dead)
    await Promise.all(jobs.map(complete))
  }

  const runJob = async (job: Job) => {
    if (job.kind === 'webhook') return deliverWebhook(job)
    const config = job.configId === null ? undefined : configs.get(job.configId)
    const held = config && job.kind !== 'setup-retry' ? heldUntil(config) : null
    if (held !== null) {
      await jobQueue.reschedule(job.id, owner, held, job.attempt)
      return
    }
    switch (job.kind) {
      case 'setup-retry': {
        const { revision } = JSON.parse(job.payload) as { revision: number }
        await complete(job)
        if (job.configId !== null) await configs.retrySetup(job.configId, revision, job.attempt)
        return
      }
      case 'plugin-job':
      case 'on-event':
      case 'on-snapshot': {
        if (!config) {
          // The config was disabled or removed: its pending work ends with it.
          await complete(job)
          return
        }
        const fn =
          job.kind === 'plugin-job'
            ? (`jobs.${job.name}` as const)
            : job.kind === 'on-event'
              ? 'onEvent'
              : 'onSnapshot'
        return runPluginCall(job, config, fn)
      }
      case 'compose-webhook': {
        // An event that arrived while the config was paused (see the pipeline's deferAsync).
        if (!config) {
          await complete(job)
          return
        }
        const event = JSON.parse(job.payload) as ProcessedPluginEvent
        try {
          const value = await config.instance.call('composeWebhook', [toPostHogEvent(event)])
          const delivery = webhookDeliveryJob(config.id, event.uuid, value, clock.now())
          if (delivery && 'problem' in delivery) log(config.id, config.teamId, 'error', delivery.problem)
          else if (delivery) await jobQueue.enqueue([delivery.job])
        } catch (error) {
          const message = describeError(failureOf(error) ?? error)
          log(config.id, config.teamId, 'error', `composeWebhook failed on event ${event.uuid}: ${message}`)
        }
        await complete(job)
        return
      }
      default:
        await deadLetters.put([
          {
            source: 'job',
            reason: `unknown job kind '${job.kind}'`,
            payload: jobDeadLetterPayload(job),
            teamId: null,
            configId: job.configId,
          },
        ])
        await complete(job)
    }
  }

  const runDue = async () => {
    const jobs = await jobQueue.claim({ now: clock.now(), limit: batchSize, owner, leaseMs })
    const exportGroups = new Map<string, Job[]>()
    const others: Job[] = []
    for (const job of jobs) {
      if (job.kind !== 'export-events') {
        others.push(job)
        continue
      }
      // First tries of one config merge into one buffer; a retry carries its own batch.
      const key = job.attempt === 0 ? `${job.configId}` : `${job.configId}#${job.id}`
      const group = exportGroups.get(key) ?? []
      group.push(job)
      exportGroups.set(key, group)
    }
    await Promise.all([
      ...others.map((job) =>
        runJob(job).catch((error) =>
          log(job.configId, null, 'error', `job ${job.kind}/${job.name} failed: ${describeError(error)}`),
        ),
      ),
      ...[...exportGroups.values()].map((group) => {
        const configId = group[0]?.configId ?? null
        const config = configId === null ? undefined : configs.get(configId)
        const held = config ? heldUntil(config) : null
        if (held !== null) {
          return Promise.all(group.map((job) => jobQueue.reschedule(job.id, owner, held, job.attempt)))
        }
        return runExports(config, group).catch((error) =>
          log(configId, null, 'error', `exportEvents batch failed: ${describeError(error)}`),
        )
      }),
    ])
    return jobs.length
  }

  const loop = () => {
    if (!running) return
    round = runDue()
      .catch(() => 0)
      .then((claimed) => {
        if (!running) return
        timer = clock.setTimer(claimed > 0 ? 0 : pollIntervalMs, loop)
      })
  }

  return {
    runDue,
    start() {
      if (running) return
      running = true
      loop()
    },
    async stop() {
      running = false
      timer?.cancel()
      timer = null
      await round
    },
  }
}
