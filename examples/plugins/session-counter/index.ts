// A PostHog plugin in TypeScript and ES module syntax, typed with @posthog/plugin-scaffold. Sluice
// compiles it as is: no build step.
//
// Each person's session lives in meta.cache with a TTL that every event renews, so a session ends
// by itself after `sessionMinutes` of inactivity. The session count per person is durable, in
// meta.storage. A job checks each session once it could have timed out and reports it when it has.
import type { Meta, MetricsOperation, PluginEvent, PostHogExtension } from '@posthog/plugin-scaffold'

declare const posthog: PostHogExtension

type SessionMeta = Meta<{
  config: { sessionMinutes: string }
  global: { sessionMinutes: number }
  jobs: { checkSession: SessionRef }
  metrics: {
    sessions_started: MetricsOperation.Sum
    sessions_ended: MetricsOperation.Sum
    most_events_in_a_session: MetricsOperation.Max
  }
}>

interface SessionRef {
  distinctId: string
  /** The person's session number, from 1. */
  session: number
}

export const metrics = {
  sessions_started: 'sum',
  sessions_ended: 'sum',
  most_events_in_a_session: 'max',
}

const sessionKey = (distinctId: string) => `session:${distinctId}`
const eventsKey = ({ distinctId, session }: SessionRef) => `events:${distinctId}:${session}`

export function setupPlugin({ config, global }: SessionMeta) {
  const minutes = Number(config.sessionMinutes)
  if (!Number.isFinite(minutes) || minutes <= 0) {
    throw new Error(`sessionMinutes must be a positive number of minutes, got '${config.sessionMinutes}'`)
  }
  global.sessionMinutes = minutes
}

export async function processEvent(event: PluginEvent, meta: SessionMeta) {
  const { cache, storage, jobs, global, metrics } = meta
  const distinctId = event.distinct_id
  let session = (await cache.get(sessionKey(distinctId), null)) as number | null
  if (session === null) {
    session = ((await storage.get(`sessions:${distinctId}`, 0)) as number) + 1
    await storage.set(`sessions:${distinctId}`, session)
    await cache.lpush('started', [distinctId])
    metrics.sessions_started.increment(1)
    await jobs.checkSession({ distinctId, session }).runIn(global.sessionMinutes, 'minutes')
  }
  const ttlSeconds = global.sessionMinutes * 60
  await cache.set(sessionKey(distinctId), session, ttlSeconds)
  const ref = { distinctId, session }
  const eventNumber = await cache.incr(eventsKey(ref))
  // The job reads the count up to two timeouts after the last event; keep it a little longer.
  await cache.expire(eventsKey(ref), 3 * ttlSeconds)
  event.properties = { ...event.properties, session_number: session, session_event_number: eventNumber }
  return event
}

export const jobs = {
  async checkSession(ref: SessionRef, { cache, jobs, global, metrics }: SessionMeta) {
    if ((await cache.get(sessionKey(ref.distinctId), null)) === ref.session) {
      // Still active: it can end one timeout from now at the earliest.
      await jobs.checkSession(ref).runIn(global.sessionMinutes, 'minutes')
      return
    }
    const events = Number(await cache.get(eventsKey(ref), 0))
    metrics.sessions_ended.increment(1)
    metrics.most_events_in_a_session.max(events)
    await posthog.capture('session ended', {
      distinct_id: ref.distinctId,
      session_number: ref.session,
      events,
    })
  },
}

export async function runEveryMinute({ cache, storage }: SessionMeta) {
  const started = await cache.lpop('started', 1000)
  if (started.length === 0) return
  const total = ((await storage.get('total_sessions', 0)) as number) + started.length
  await storage.set('total_sessions', total)
  const sessions = started.length === 1 ? '1 session' : `${started.length} sessions`
  console.log(`${sessions} started since the last report; ${total} in all`)
}
