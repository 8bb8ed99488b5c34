import { describeError } from '../errors.js'
import type { ProcessedPluginEvent } from '../events.js'
import type { Clock } from '../ports/clock.js'
import type { DeadLetter, DeadLetterStore } from '../ports/dead-letter.js'
import type { JobQueue, NewJob } from '../ports/job-queue.js'
import type { QueueRecord, QueueTransport } from '../ports/queue.js'
import type { Sink } from '../ports/sink.js'

/** What became of one dead letter asked to be replayed. */
export type ReplayOutcome =
  | { id: string; status: 'replayed' }
  | { id: string; status: 'not-found' }
  | { id: string; status: 'failed'; reason: string }

/** The outcome of a replay, one entry per distinct id asked for, in the order asked. */
export interface ReplayResult {
  results: ReplayOutcome[]
}

/** What {@link createDeadLetterReplay} needs. */
export interface DeadLetterReplayOptions {
  clock: Clock
  deadLetters: DeadLetterStore
  queue: QueueTransport
  /** Where `ingestion` and `capture` entries are produced again. */
  ingestionTopic: string
  jobQueue: JobQueue
  /** Where `sink` entries are written again. */
  sinks: readonly Sink[]
}

/** Puts dead letters back where they came from. */
export interface DeadLetterReplay {
  /**
   * Re-queues each entry at its origin and deletes it from the store once re-queued:
   * `ingestion`/`capture` → produced to the ingestion topic; `export-events`/`webhook`/`job` →
   * enqueued again as the job they were, due now, attempt 0; `sink` → written to the sink
   * that refused them (a `{ sink, events }` payload), or to every sink.
   * An entry that cannot be re-queued stays in the store, and its outcome says why.
   */
  replay(ids: readonly string[]): Promise<ReplayResult>
}

/** The job a `job` dead letter holds, so that a replay can enqueue it as it was. */
interface DeadJob {
  kind: string
  name: string
  payload: string
}

/** The payload of a `job` dead letter: the job's kind, name and payload, as JSON text. */
export function jobDeadLetterPayload(job: Pick<NewJob, 'kind' | 'name' | 'payload'>): string {
  const dead: DeadJob = { kind: job.kind, name: job.name, payload: job.payload }
  return JSON.stringify(dead)
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The ordering key the capture API gives an event, when the payload has what it takes. */
const ingestionKey = (payload: string): string | null => {
  const event = parseJson(payload)
  if (!isObject(event)) return null
  const { team_id: teamId, distinct_id: distinctId } = event
  if (!Number.isInteger(teamId)) return null
  if (!(typeof distinctId === 'string' && distinctId !== '') && typeof distinctId !== 'number') return null
  return `${teamId}:${distinctId}`
}

type Target =
  | { to: 'ingestion'; record: QueueRecord }
  | { to: 'jobs'; job: NewJob }
  | { to: 'sinks'; sinks: readonly Sink[]; events: ProcessedPluginEvent[] }
  | { to: 'nowhere'; reason: string }

/** Creates the dead-letter replay over the runtime's ports. */
export function createDeadLetterReplay(options: DeadLetterReplayOptions): DeadLetterReplay {
  const { clock, deadLetters, queue, ingestionTopic, jobQueue, sinks } = options

  const job = (entry: DeadLetter, kind: string, name: string, payload: string): Target => ({
    to: 'jobs',
    job: { kind, configId: entry.configId, name, payload, runAt: clock.now(), attempt: 0 },
  })

  const targetOf = (entry: DeadLetter): Target => {
    switch (entry.source) {
      case 'ingestion':
      case 'capture':
        // A payload that does not parse is produced as it is: it fails again and comes back with its reason.
        return { to: 'ingestion', record: { key: ingestionKey(entry.payload), value: entry.payload } }
      case 'export-events':
        if (entry.configId === null) {
          return { to: 'nowhere', reason: 'the entry names no plugin config to export these events to' }
        }
        return job(entry, 'export-events', 'exportEvents', entry.payload)
      case 'webhook':
        return job(entry, 'webhook', 'composeWebhook', entry.payload)
      case 'job': {
        const dead = parseJson(entry.payload)
        if (
          !isObject(dead) ||
          typeof dead.kind !== 'string' ||
          typeof dead.name !== 'string' ||
          typeof dead.payload !== 'string'
        ) {
          return {
            to: 'nowhere',
            reason: 'the payload is not a job ({ kind, name, payload } JSON), so it cannot be enqueued again',
          }
        }
        return job(entry, dead.kind, dead.name, dead.payload)
      }
      case 'sink': {
        // `{ sink, events }`: what one sink refused, written again to that sink alone. Otherwise
        // one processed event or a list of them, for every sink.
        const parsed = parseJson(entry.payload)
        const addressed = isObject(parsed) && typeof parsed.sink === 'string' && Array.isArray(parsed.events)
        const targets = addressed ? sinks.filter((sink) => sink.name === parsed.sink) : sinks
        if (targets.length === 0) {
          return {
            to: 'nowhere',
            reason: addressed
              ? `this server has no sink named '${String(parsed.sink)}' to write the events to`
              : 'this server has no sink to write the events to',
          }
        }
        const list = addressed ? (parsed.events as unknown[]) : Array.isArray(parsed) ? parsed : [parsed]
        if (list.length === 0 || !list.every(isObject)) {
          return {
            to: 'nowhere',
            reason: 'the payload is not a processed event or a JSON list of them, so no sink can take it',
          }
        }
        return { to: 'sinks', sinks: targets, events: list as unknown as ProcessedPluginEvent[] }
      }
      default:
        return { to: 'nowhere', reason: `unknown dead-letter source '${String(entry.source)}'` }
    }
  }

  /** Runs one re-queue step for a group; resolves with the reason it failed, or null. */
  const attempt = async (step: () => Promise<unknown>, what: string): Promise<string | null> => {
    try {
      await step()
      return null
    } catch (error) {
      return `${what} failed: ${describeError(error)}; the entry was kept, replay it again later`
    }
  }

  return {
    async replay(ids) {
      const unique = [...new Set(ids)]
      const outcomes = new Map<string, ReplayOutcome>()
      const ingestion: { id: string; record: QueueRecord }[] = []
      const jobs: { id: string; job: NewJob }[] = []
      const toSinks: { id: string; sinks: readonly Sink[]; events: ProcessedPluginEvent[] }[] = []

      await Promise.all(
        unique.map(async (id) => {
          let entry: DeadLetter | null
          try {
            entry = await deadLetters.get(id)
          } catch (error) {
            outcomes.set(id, {
              id,
              status: 'failed',
              reason: `reading it from the dead-letter store failed: ${describeError(error)}`,
            })
            return
          }
          if (!entry) {
            outcomes.set(id, { id, status: 'not-found' })
            return
          }
          const target = targetOf(entry)
          if (target.to === 'ingestion') ingestion.push({ id, record: target.record })
          else if (target.to === 'jobs') jobs.push({ id, job: target.job })
          else if (target.to === 'sinks') toSinks.push({ id, sinks: target.sinks, events: target.events })
          else outcomes.set(id, { id, status: 'failed', reason: target.reason })
        }),
      )

      // Reads resolve in any order; re-queue in the order asked, so one key's events keep it.
      const order = new Map(unique.map((id, index) => [id, index]))
      const byOrder = (a: { id: string }, b: { id: string }) =>
        (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0)
      ingestion.sort(byOrder)
      jobs.sort(byOrder)
      toSinks.sort(byOrder)

      const groups = await Promise.all([
        ingestion.length === 0
          ? null
          : attempt(
              () =>
                queue.produce(
                  ingestionTopic,
                  ingestion.map((item) => item.record),
                ),
              `producing to '${ingestionTopic}'`,
            ),
        jobs.length === 0
          ? null
          : attempt(() => jobQueue.enqueue(jobs.map((item) => item.job)), 'enqueueing the jobs'),
        toSinks.length === 0
          ? null
          : attempt(
              () =>
                Promise.all(
                  sinks.map((sink) => {
                    const events = toSinks
                      .filter((item) => item.sinks.includes(sink))
                      .flatMap((item) => item.events)
                    return events.length === 0 ? undefined : sink.write(events)
                  }),
                ),
              'writing to the sinks',
            ),
      ])
      const requeued: string[] = []
      ;[ingestion, jobs, toSinks].forEach((group, index) => {
        const reason = groups[index]
        for (const { id } of group) {
          if (reason) outcomes.set(id, { id, status: 'failed', reason })
          else requeued.push(id)
        }
      })

      if (requeued.length > 0) {
        try {
          await deadLetters.delete(requeued)
          for (const id of requeued) outcomes.set(id, { id, status: 'replayed' })
        } catch (error) {
          const reason = `re-queued, but removing it from the dead-letter store failed (${describeError(error)}); delete it by hand, a second replay would deliver it twice`
          for (const id of requeued) outcomes.set(id, { id, status: 'failed', reason })
        }
      }

      return { results: unique.map((id) => outcomes.get(id) as ReplayOutcome) }
    },
  }
}
