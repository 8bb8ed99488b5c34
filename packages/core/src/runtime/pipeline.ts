import {
  isSnapshotEvent,
  type PluginEvent,
  type ProcessedPluginEvent,
  toPostHogEvent,
  toProcessedEvent,
} from '../events.js'
import { nextRetry, ON_EVENT_RETRY_POLICY } from '../policy/index.js'
import type { Clock } from '../ports/clock.js'
import type { DeadLetterStore, NewDeadLetter } from '../ports/dead-letter.js'
import type { JobQueue, NewJob } from '../ports/job-queue.js'
import type { QueueMessage } from '../ports/queue.js'
import type { CallOutcome, LaneCall } from '../ports/sandbox.js'
import type { Sink } from '../ports/sink.js'
import type { CaptureDepth } from './capture.js'
import type { ConfigManager, LiveConfig } from './config-manager.js'
import { decodeEvent } from './decode-event.js'
import { utf8Length } from './plugin-host.js'
import type { Telemetry } from './telemetry.js'

/** The property listing configs whose processEvent succeeded on an event. */
export const PLUGINS_SUCCEEDED = '$plugins_succeeded'
/** The property listing configs whose processEvent failed on an event. */
export const PLUGINS_FAILED = '$plugins_failed'
/** The property listing configs that will see the event asynchronously. */
export const PLUGINS_DEFERRED = '$plugins_deferred'
/** The message recorded when a plugin changes `team_id`. */
export const TEAM_ID_CHANGED = 'Plugin tried to change event.team_id'

/** What the pipeline needs. */
export interface PipelineOptions {
  clock: Clock
  configs: ConfigManager
  sinks: readonly Sink[]
  deadLetters: DeadLetterStore
  jobQueue: JobQueue
  telemetry: Telemetry
  captureDepth: CaptureDepth
}

/** Processes consumed batches; resolving means the batch may be acknowledged. */
export interface Pipeline {
  /**
   * Decodes, runs every team's processEvent chain, writes kept events to every sink, then runs
   * the async stage (onEvent/onSnapshot, exportEvents hand-off, composeWebhook hand-off).
   * Rejects only when a sink or the job queue failed, so that the batch is delivered again.
   */
  handleBatch(messages: readonly QueueMessage[]): Promise<void>
}

interface InFlight {
  event: PluginEvent
  lane: string
  succeeded: string[]
  failed: string[]
}

const ASYNC_FUNCTIONS = ['onEvent', 'onSnapshot', 'exportEvents', 'composeWebhook'] as const

const listOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v) => typeof v === 'string') : []

const failureText = (outcome: Extract<CallOutcome, { ok: false }>) =>
  `${outcome.failure.name}: ${outcome.failure.message}`

/** Creates the pipeline over the runtime's parts. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const { clock, configs, sinks, deadLetters, jobQueue, telemetry, captureDepth } = options
  /** Per export config: the window that batches' export jobs are due at (SPEC §2.1 age rule). */
  const exportWindows = new Map<number, { deadline: number; bytes: number }>()

  const log = (config: LiveConfig, level: 'warn' | 'error', message: string) =>
    telemetry.log({ configId: config.id, teamId: config.teamId, level, source: 'system', message })

  const callTracked = async (
    config: LiveConfig,
    fn: Parameters<LiveConfig['instance']['callEach']>[0],
    calls: LaneCall[],
    events: readonly { properties?: Record<string, unknown> }[],
  ) => {
    const release = captureDepth.enter(config.id, events)
    try {
      return await config.instance.callEach(fn, calls)
    } finally {
      release()
    }
  }

  const runChain = async (teamId: number, items: InFlight[]): Promise<InFlight[]> => {
    let alive = items
    for (const config of configs.chain(teamId)) {
      const candidates = alive.filter((item) => {
        const props = item.event.properties
        return (
          !listOf(props?.[PLUGINS_SUCCEEDED]).includes(config.tag) &&
          !listOf(props?.[PLUGINS_FAILED]).includes(config.tag)
        )
      })
      if (candidates.length === 0) continue
      const batchForm = !config.has('processEvent')
      const fn = batchForm ? 'processEventBatch' : 'processEvent'
      const calls = candidates.map((item) => ({
        lane: item.lane,
        args: batchForm ? [[item.event]] : [item.event],
      }))
      const outcomes = await callTracked(
        config,
        fn,
        calls,
        candidates.map((c) => c.event),
      )
      const dropped = new Set<InFlight>()
      candidates.forEach((item, index) => {
        const outcome = outcomes[index] as CallOutcome
        telemetry.count(config.id, 'eventsIn')
        if (!outcome.ok) {
          item.failed.push(config.tag)
          telemetry.count(config.id, 'eventsFailed')
          log(config, 'error', `${fn} failed on event ${item.event.uuid}: ${failureText(outcome)}`)
          return
        }
        const value = batchForm
          ? Array.isArray(outcome.value)
            ? outcome.value[0]
            : outcome.value
          : outcome.value
        if (value === null || value === undefined) {
          dropped.add(item)
          telemetry.count(config.id, 'eventsDropped')
          return
        }
        const next = value as PluginEvent
        if (typeof next !== 'object' || next.team_id !== item.event.team_id) {
          item.failed.push(config.tag)
          telemetry.count(config.id, 'eventsFailed')
          log(
            config,
            'error',
            `${fn} failed on event ${item.event.uuid}: ${typeof next !== 'object' ? 'returned something that is not an event' : TEAM_ID_CHANGED}`,
          )
          return
        }
        item.event = next
        item.succeeded.push(config.tag)
        telemetry.count(config.id, 'eventsOut')
      })
      if (dropped.size > 0) alive = alive.filter((item) => !dropped.has(item))
    }
    return alive
  }

  const finish = (item: InFlight, deferred: readonly string[]): ProcessedPluginEvent => {
    const properties = { ...(item.event.properties ?? {}) }
    if (item.succeeded.length > 0 || PLUGINS_SUCCEEDED in properties) {
      properties[PLUGINS_SUCCEEDED] = [...listOf(properties[PLUGINS_SUCCEEDED]), ...item.succeeded]
    }
    if (item.failed.length > 0 || PLUGINS_FAILED in properties) {
      properties[PLUGINS_FAILED] = [...listOf(properties[PLUGINS_FAILED]), ...item.failed]
    }
    if (deferred.length > 0)
      properties[PLUGINS_DEFERRED] = [...listOf(properties[PLUGINS_DEFERRED]), ...deferred]
    return toProcessedEvent({ ...item.event, properties })
  }

  const exportJob = (config: LiveConfig, events: readonly ProcessedPluginEvent[]): NewJob | null => {
    const { ignoredEvents, maxBytes, maxAgeMs } = config.exportSettings
    const kept = events.filter((e) => !ignoredEvents.has(e.event))
    if (kept.length === 0) return null
    telemetry.recordMetric({ configId: config.id, name: 'events_seen', operation: 'sum', value: kept.length })
    const payload = JSON.stringify(kept)
    const now = clock.now()
    let window = exportWindows.get(config.id)
    if (!window || window.deadline <= now) {
      window = { deadline: now + maxAgeMs, bytes: 0 }
      exportWindows.set(config.id, window)
    }
    window.bytes += utf8Length(payload)
    let runAt = window.deadline
    if (window.bytes >= maxBytes) {
      runAt = now
      exportWindows.delete(config.id)
    }
    return { kind: 'export-events', configId: config.id, name: 'exportEvents', payload, runAt, attempt: 0 }
  }

  const asyncStage = async (config: LiveConfig, events: readonly ProcessedPluginEvent[], jobs: NewJob[]) => {
    const regular = events.filter((e) => !isSnapshotEvent(e))
    const snapshots = events.filter(isSnapshotEvent)
    const fanOut = async (fn: 'onEvent' | 'onSnapshot', list: readonly ProcessedPluginEvent[]) => {
      if (list.length === 0 || !config.has(fn)) return
      const outcomes = await callTracked(
        config,
        fn,
        list.map((e) => ({ lane: `${e.team_id}:${e.distinct_id}`, args: [e] })),
        list,
      )
      outcomes.forEach((outcome, index) => {
        if (outcome.ok) return
        const event = list[index] as ProcessedPluginEvent
        if (outcome.failure.retry) {
          const next = nextRetry(ON_EVENT_RETRY_POLICY, 1, clock.now())
          if ('retryAt' in next) {
            jobs.push({
              kind: fn === 'onEvent' ? 'on-event' : 'on-snapshot',
              configId: config.id,
              name: fn,
              payload: JSON.stringify(event),
              runAt: next.retryAt,
              attempt: 1,
            })
            return
          }
        }
        log(config, 'error', `${fn} failed on event ${event.uuid}: ${failureText(outcome)}`)
      })
    }
    await Promise.all([fanOut('onEvent', regular), fanOut('onSnapshot', snapshots)])
    if (config.has('exportEvents')) {
      const job = exportJob(config, regular)
      if (job) jobs.push(job)
    }
    if (config.has('composeWebhook') && regular.length > 0) {
      const outcomes = await callTracked(
        config,
        'composeWebhook',
        regular.map((e) => ({ lane: `${e.team_id}:${e.distinct_id}`, args: [toPostHogEvent(e)] })),
        regular,
      )
      for (const [index, outcome] of outcomes.entries()) {
        const event = regular[index] as ProcessedPluginEvent
        if (!outcome.ok) {
          log(config, 'error', `composeWebhook failed on event ${event.uuid}: ${failureText(outcome)}`)
          continue
        }
        const hook = outcome.value as { url?: unknown; body?: unknown } | null | undefined
        if (hook === null || hook === undefined) continue
        if (typeof hook !== 'object' || typeof hook.url !== 'string' || typeof hook.body !== 'string') {
          log(
            config,
            'error',
            `composeWebhook returned an invalid webhook for event ${event.uuid}: it needs a string url and a string body`,
          )
          continue
        }
        jobs.push({
          kind: 'webhook',
          configId: config.id,
          name: 'composeWebhook',
          payload: JSON.stringify(hook),
          runAt: clock.now(),
          attempt: 0,
        })
      }
    }
  }

  return {
    async handleBatch(messages) {
      const receivedAt = clock.now()
      const rejected: NewDeadLetter[] = []
      const byTeam = new Map<number, InFlight[]>()
      for (const message of messages) {
        const decoded = decodeEvent(message.value, receivedAt)
        if (!decoded.ok) {
          rejected.push({
            source: 'ingestion',
            reason: decoded.reason,
            payload: message.value,
            teamId: null,
            configId: null,
          })
          continue
        }
        const { event } = decoded
        const list = byTeam.get(event.team_id) ?? []
        list.push({ event, lane: `${event.team_id}:${event.distinct_id}`, succeeded: [], failed: [] })
        byTeam.set(event.team_id, list)
      }
      if (rejected.length > 0) await deadLetters.put(rejected)

      const perTeam = await Promise.all(
        [...byTeam].map(async ([teamId, items]) => {
          const snapshots = items.filter((item) => isSnapshotEvent(item.event))
          const kept = await runChain(
            teamId,
            items.filter((item) => !isSnapshotEvent(item.event)),
          )
          const asyncConfigs = configs
            .teamConfigs(teamId)
            .filter((c) => ASYNC_FUNCTIONS.some((fn) => c.has(fn)))
          const deferredFor = (snapshot: boolean) =>
            asyncConfigs
              .filter((c) =>
                snapshot
                  ? c.has('onSnapshot')
                  : ASYNC_FUNCTIONS.some((fn) => fn !== 'onSnapshot' && c.has(fn)),
              )
              .map((c) => c.tag)
          const regularDeferred = deferredFor(false)
          const snapshotDeferred = deferredFor(true)
          // Keep the batch order of the team's events, snapshots included.
          const keptSet = new Set([...kept, ...snapshots])
          const processed = items
            .filter((item) => keptSet.has(item))
            .map((item) => finish(item, isSnapshotEvent(item.event) ? snapshotDeferred : regularDeferred))
          return { asyncConfigs, processed }
        }),
      )

      const output = perTeam.flatMap((team) => team.processed)
      if (output.length > 0) await Promise.all(sinks.map((sink) => sink.write(output)))

      const jobs: NewJob[] = []
      await Promise.all(
        perTeam.flatMap(({ asyncConfigs, processed }) =>
          asyncConfigs.map((config) => asyncStage(config, processed, jobs)),
        ),
      )
      if (jobs.length > 0) await jobQueue.enqueue(jobs)
    },
  }
}
