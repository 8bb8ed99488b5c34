import { describeError, SluiceError } from '../errors.js'
import {
  isSnapshotEvent,
  type PluginEvent,
  type ProcessedPluginEvent,
  toPostHogEvent,
  toProcessedEvent,
} from '../events.js'
import { chunkLanes, nextRetry, ON_EVENT_RETRY_POLICY } from '../policy/index.js'
import type { Clock } from '../ports/clock.js'
import type { DeadLetterStore, NewDeadLetter } from '../ports/dead-letter.js'
import type { JobQueue, NewJob } from '../ports/job-queue.js'
import type { QueueMessage } from '../ports/queue.js'
import type { CallOutcome, JsonCallOutcome, JsonLaneCall, LaneCall } from '../ports/sandbox.js'
import type { Sink } from '../ports/sink.js'
import type { CaptureDepth } from './capture.js'
import type { ConfigManager, LiveConfig } from './config-manager.js'
import { decodeEvent } from './decode-event.js'
import type { HealthWatcher } from './health-watcher.js'
import { utf8Length } from './plugin-host.js'
import type { Telemetry } from './telemetry.js'
import { webhookDeliveryJob } from './webhook-job.js'

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
  /** Skips paused configs (their async work waits as jobs); without it every ready config runs. */
  health?: HealthWatcher
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
  /** The event as last parsed: as decoded, or as a processEventBatch plugin returned it. */
  event: PluginEvent
  /**
   * The event as JSON text, handed to the next plugin as it is. processEvent results are parsed
   * only once the chain is done (the sandbox enforces `team_id` on each): until then this is newer
   * than `event`, and `unparsed` is set.
   */
  json: string
  unparsed: boolean
  /** The event's text as it entered the chain, for a dead letter if the chain's result is bad. */
  input: string
  lane: string
  /** Configs `event` already lists as succeeded or failed (a replayed event), which skip it; often none. */
  listed: ReadonlySet<string> | null
  succeeded: string[]
  failed: string[]
}

/** Events per chunk of a team's batch going through its chain (see `runChain`). */
const CHAIN_CHUNK = 128

/** A processEvent result kept as text until its chain is done (see `settleChain`). */
const UNPARSED: unique symbol = Symbol('unparsed')

/**
 * A processEvent result, without parsing it: null when dropped, a string when it is not an event,
 * else {@link UNPARSED}. The sandbox gives an object's JSON text, which starts with `{`.
 */
const classifyResult = (json: string | null): null | string | typeof UNPARSED => {
  if (json === null || json === 'null') return null
  return json.startsWith('{') ? UNPARSED : 'returned something that is not an event'
}

const ASYNC_FUNCTIONS = ['onEvent', 'onSnapshot', 'exportEvents', 'composeWebhook'] as const

const listOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v) => typeof v === 'string') : []

const failureText = (outcome: Extract<CallOutcome, { ok: false }>) =>
  `${outcome.failure.name}: ${outcome.failure.message}`

/** The configs an event lists in its succeeded and failed properties, or null when it lists none. */
const listedConfigs = (event: PluginEvent): ReadonlySet<string> | null => {
  const props = event.properties
  if (!props || !(PLUGINS_SUCCEEDED in props || PLUGINS_FAILED in props)) return null
  return new Set([...listOf(props[PLUGINS_SUCCEEDED]), ...listOf(props[PLUGINS_FAILED])])
}

/** Creates the pipeline over the runtime's parts. */
export function createPipeline(options: PipelineOptions): Pipeline {
  const { clock, configs, sinks, deadLetters, jobQueue, telemetry, captureDepth, health } = options
  /** Per export config: the window that batches' export jobs are due at (SPEC §2.1 age rule). */
  const exportWindows = new Map<number, { deadline: number; bytes: number }>()

  const log = (config: LiveConfig, level: 'warn' | 'error', message: string) =>
    telemetry.log({ configId: config.id, teamId: config.teamId, level, source: 'system', message })

  /** Runs `call` while the config's calls may capture events (so captures know their depth). */
  const tracked = async <T>(
    config: LiveConfig,
    events: readonly { properties?: Record<string, unknown> }[],
    call: () => Promise<T>,
  ): Promise<T> => {
    const release = captureDepth.enter(config.id, events)
    try {
      return await call()
    } finally {
      release()
    }
  }
  const callTracked = (
    config: LiveConfig,
    fn: Parameters<LiveConfig['instance']['callEach']>[0],
    calls: LaneCall[],
    events: readonly { properties?: Record<string, unknown> }[],
  ): Promise<CallOutcome[]> => tracked(config, events, () => config.instance.callEach(fn, calls))

  /** A plugin's result as the event it returns: null when dropped, a string when unusable. */
  const readResult = (
    json: string | null,
    batchForm: boolean,
    teamId: number,
  ): PluginEvent | null | string => {
    if (json === null) return null
    let value: unknown
    try {
      value = JSON.parse(json)
    } catch {
      return 'returned something that is not JSON'
    }
    if (batchForm && Array.isArray(value)) value = value[0]
    if (value === null || value === undefined) return null
    if (typeof value !== 'object') return 'returned something that is not an event'
    if ((value as PluginEvent).team_id !== teamId) return TEAM_ID_CHANGED
    return value as PluginEvent
  }

  /** Runs one chunk of a team's events through its processEvent chain; resolves to those kept. */
  const runChainOn = async (chain: readonly LiveConfig[], items: InFlight[]): Promise<InFlight[]> => {
    let alive = items
    for (const config of chain) {
      // A paused config lets events pass as they are, unlisted, like a config still in setup.
      if (health?.heldUntil(config.id) != null) continue
      const candidates = alive.filter((item) => !item.listed?.has(config.tag))
      if (candidates.length === 0) continue
      const batchForm = !config.has('processEvent')
      const fn = batchForm ? 'processEventBatch' : 'processEvent'
      // Events go in and come out as JSON text, handed on to the next plugin without encoding it
      // again (an item is a call: its lane and its text). processEvent results are parsed once,
      // after the chain (see `settleChain`).
      const calls: readonly JsonLaneCall[] = batchForm
        ? candidates.map((item) => ({ lane: item.lane, json: `[${item.json}]` }))
        : candidates
      const outcomes = await tracked(
        config,
        candidates.map((c) => c.event),
        () => config.instance.callEachJson(fn, calls),
      )
      const dropped = new Set<InFlight>()
      let failed = 0
      const fail = (item: InFlight, reason: string) => {
        item.failed.push(config.tag)
        failed += 1
        log(config, 'error', `${fn} failed on event ${item.event.uuid}: ${reason}`)
      }
      for (let index = 0; index < candidates.length; index++) {
        const item = candidates[index] as InFlight
        const outcome = outcomes[index] as JsonCallOutcome
        if (!outcome.ok) {
          fail(item, failureText(outcome))
          continue
        }
        const result = batchForm
          ? readResult(outcome.json, true, item.event.team_id)
          : classifyResult(outcome.json)
        if (typeof result === 'string') fail(item, result)
        else if (result === null) dropped.add(item)
        else {
          if (result === UNPARSED) {
            item.json = outcome.json as string
            item.unparsed = true
          } else {
            item.event = result
            item.json = JSON.stringify(result)
            item.unparsed = false
            item.listed = listedConfigs(result)
          }
          item.succeeded.push(config.tag)
        }
      }
      telemetry.count(config.id, 'eventsIn', candidates.length)
      telemetry.count(config.id, 'eventsFailed', failed)
      telemetry.count(config.id, 'eventsDropped', dropped.size)
      telemetry.count(config.id, 'eventsOut', candidates.length - failed - dropped.size)
      if (dropped.size > 0) alive = alive.filter((item) => !dropped.has(item))
    }
    return alive
  }

  /**
   * Runs a team's events through its chain in chunks of whole lanes, concurrently: each plugin's
   * isolate has its own thread, so one chunk is in the second plugin while the next is in the
   * first, and the host checks results of one chunk while isolates work on others.
   */
  const runChain = async (
    teamId: number,
    items: InFlight[],
    rejected: NewDeadLetter[],
  ): Promise<InFlight[]> => {
    const chain = configs.chain(teamId)
    if (chain.length === 0) return items
    const chunks = chunkLanes(items, (item) => item.lane, CHAIN_CHUNK)
    const kept = (await Promise.all(chunks.map((chunk) => runChainOn(chain, chunk)))).flat()
    return kept.filter((item) => settleChain(item, rejected))
  }

  /**
   * Parses the chain's last processEvent result and checks it again: the sandbox's own check of
   * `team_id` runs beside plugin code, which a hostile plugin can fool. An event that fails here
   * cannot be blamed on one plugin and must not go out as it is: it becomes a dead letter, as it
   * entered the chain, to replay once the plugin is dealt with. False when the event went there.
   */
  const settleChain = (item: InFlight, rejected: NewDeadLetter[]): boolean => {
    if (!item.unparsed) return true
    const result = readResult(item.json, false, item.event.team_id)
    if (result !== null && typeof result !== 'string') {
      item.event = result
      item.unparsed = false
      return true
    }
    rejected.push({
      source: 'ingestion',
      reason: `the result of plugins ${item.succeeded.join(', ')} failed the host's check (${result ?? 'dropped in transit'}), though each passed the sandbox's: a plugin may be tampering with its sandbox`,
      payload: item.input,
      teamId: item.event.team_id,
      configId: null,
    })
    return false
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
    return toProcessedEvent(item.event, properties)
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

  /** A paused config's async work, as jobs due when its pause ends: it sees every event, later. */
  const deferAsync = (
    config: LiveConfig,
    events: readonly ProcessedPluginEvent[],
    jobs: NewJob[],
    runAt: number,
  ) => {
    const deferred = (kind: string, name: string, event: ProcessedPluginEvent): NewJob => ({
      kind,
      configId: config.id,
      name,
      payload: JSON.stringify(event),
      runAt,
      attempt: 0,
    })
    for (const event of events) {
      if (isSnapshotEvent(event)) {
        if (config.has('onSnapshot')) jobs.push(deferred('on-snapshot', 'onSnapshot', event))
        continue
      }
      if (config.has('onEvent')) jobs.push(deferred('on-event', 'onEvent', event))
      if (config.has('composeWebhook')) jobs.push(deferred('compose-webhook', 'composeWebhook', event))
    }
    // Export jobs wait in the job queue anyway: the job runner holds them while the config is paused.
    if (config.has('exportEvents')) {
      const job = exportJob(
        config,
        events.filter((e) => !isSnapshotEvent(e)),
      )
      if (job) jobs.push(job)
    }
  }

  const asyncStage = async (config: LiveConfig, events: readonly ProcessedPluginEvent[], jobs: NewJob[]) => {
    const heldUntil = health?.heldUntil(config.id)
    if (heldUntil != null) return deferAsync(config, events, jobs, heldUntil)
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
        const delivery = webhookDeliveryJob(config.id, event.uuid, outcome.value, clock.now())
        if (delivery === null) continue
        if ('problem' in delivery) log(config, 'error', delivery.problem)
        else jobs.push(delivery.job)
      }
    }
  }

  /**
   * Writes to one sink. A sink that refuses the events for good (an error it marks not retryable,
   * say a 4xx) would refuse them on every redelivery: they become dead letters for that sink, one
   * per team, replayable to it alone. Any other failure rejects, so the batch is delivered again.
   */
  const writeOrRefuse = async (
    sink: Sink,
    events: readonly ProcessedPluginEvent[],
  ): Promise<NewDeadLetter[]> => {
    try {
      await sink.write(events)
      return []
    } catch (error) {
      if (!(error instanceof SluiceError) || error.retryable) throw error
      const byTeam = new Map<number, ProcessedPluginEvent[]>()
      for (const event of events) {
        const list = byTeam.get(event.team_id)
        if (list) list.push(event)
        else byTeam.set(event.team_id, [event])
      }
      return [...byTeam].map(([teamId, teamEvents]) => ({
        source: 'sink' as const,
        reason: `sink ${sink.name} refused the events: ${describeError(error)}`,
        payload: JSON.stringify({ sink: sink.name, events: teamEvents }),
        teamId,
        configId: null,
      }))
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
        const { event, json } = decoded
        const list = byTeam.get(event.team_id) ?? []
        list.push({
          event,
          json,
          unparsed: false,
          input: json,
          lane: `${event.team_id}:${event.distinct_id}`,
          listed: listedConfigs(event),
          succeeded: [],
          failed: [],
        })
        byTeam.set(event.team_id, list)
      }
      if (rejected.length > 0) await deadLetters.put(rejected)

      const refusedByChains: NewDeadLetter[] = []
      const perTeam = await Promise.all(
        [...byTeam].map(async ([teamId, items]) => {
          const snapshots = items.filter((item) => isSnapshotEvent(item.event))
          const kept = await runChain(
            teamId,
            items.filter((item) => !isSnapshotEvent(item.event)),
            refusedByChains,
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

      if (refusedByChains.length > 0) await deadLetters.put(refusedByChains)
      const output = perTeam.flatMap((team) => team.processed)
      if (output.length > 0) {
        const refused = (await Promise.all(sinks.map((sink) => writeOrRefuse(sink, output)))).flat()
        if (refused.length > 0) await deadLetters.put(refused)
      }

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
