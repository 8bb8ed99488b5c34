import type { PluginEvent } from '@sluice/core'

/**
 * An event as a test writes it: any {@link PluginEvent} field, only `event` required. The rest is
 * filled in the way the server's capture endpoint would (see {@link createEventFactory}).
 * @example
 * { event: 'signed up', distinct_id: 'user-1', properties: { plan: 'pro' } }
 */
export type TestEvent = Partial<PluginEvent> & Pick<PluginEvent, 'event'>

/** Defaults of the fields a {@link TestEvent} leaves out. */
export interface EventDefaults {
  /** `team_id` of every event. */
  teamId: number
  /** Epoch ms for `now`, read for each event. */
  now: () => number
  /** @default 'test-user' */
  distinctId?: string
  /** @default '127.0.0.1' */
  ip?: string
  /** @default 'http://localhost:8000' */
  siteUrl?: string
}

/**
 * A function that fills a {@link TestEvent} into a complete {@link PluginEvent}: `uuid` (a
 * deterministic UUID-shaped counter, `00000000-0000-4000-8000-000000000001`, …), `distinct_id`,
 * `ip`, `site_url`, `team_id`, `now` (ISO time from the clock) and `properties` (`{}`). Fields the
 * test gives win; `timestamp` is left out unless given, so the event time is `now`.
 */
export function createEventFactory(defaults: EventDefaults): (input: TestEvent) => PluginEvent {
  let count = 0
  return (input) => {
    count += 1
    return {
      uuid: `00000000-0000-4000-8000-${count.toString(16).padStart(12, '0')}`,
      distinct_id: defaults.distinctId ?? 'test-user',
      ip: defaults.ip ?? '127.0.0.1',
      site_url: defaults.siteUrl ?? 'http://localhost:8000',
      team_id: defaults.teamId,
      now: new Date(defaults.now()).toISOString(),
      properties: {},
      ...input,
    }
  }
}
