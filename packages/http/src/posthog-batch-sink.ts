import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { ProcessedPluginEvent, Properties, Sink } from '@sluice/core'
import { createHttpSink, type HttpSinkCommonOptions, invalidSinkOption, parseSinkUrl } from './http-sink.js'

/** Options of {@link createPostHogBatchSink}. */
export interface PostHogBatchSinkOptions extends HttpSinkCommonOptions {
  /**
   * The PostHog instance, with an optional path prefix for a reverse proxy; events go to
   * `<host>/batch/`.
   * @example 'https://us.i.posthog.com'
   */
  host: string
  /** The target project's API key (`phc_…`); sent in the body, never shown in errors. */
  apiKey: string
  /**
   * Marks the events as a historical import, which PostHog ingests on a separate, slower path.
   * @default false
   */
  historicalMigration?: boolean
}

const COMPONENT = 'posthog'
const gzipAsync = promisify(gzip)

/**
 * Creates a sink that forwards processed events to a PostHog instance's batch API: `POST
 * <host>/batch/` with a gzipped JSON body `{ api_key, historical_migration, batch: [{ event,
 * distinct_id, properties, timestamp, uuid }] }`. `$set` and `$set_once` go into `properties` (a
 * top-level value wins over one already there, as PostHog's ingestion merges them), and the
 * event's `ip` becomes `properties.$ip` unless that is set, so PostHog does not take the sink's own
 * address. A write is cut into requests of at most `maxEventsPerRequest` events and about
 * `maxBytesPerRequest` bytes of JSON, sent one after another, and resolves once each got a 2xx.
 * A timeout, a network error, 408, 429 or 5xx rejects with a retryable `SinkError`; another 4xx
 * rejects with a non-retryable one carrying PostHog's reason. Requests may reach private networks
 * by default (see `allowPrivateNetworks`).
 * @example
 * const sink = createPostHogBatchSink({ host: 'https://eu.i.posthog.com', apiKey: 'phc_…' })
 * await sink.write(events)
 */
export function createPostHogBatchSink(options: PostHogBatchSinkOptions): Sink {
  const host = parseSinkUrl(options?.host, 'host', COMPONENT)
  if (host.search || host.hash) {
    throw invalidSinkOption(COMPONENT, 'host must not have a query or fragment: give the instance URL only')
  }
  const { apiKey } = options
  if (typeof apiKey !== 'string' || apiKey.trim() === '') {
    throw invalidSinkOption(COMPONENT, "apiKey must be the target project's API key (phc_…)")
  }
  const url = new URL(`${host.pathname.replace(/\/+$/, '')}/batch/`, host)
  const envelope = `{"api_key":${JSON.stringify(apiKey)},"historical_migration":${options.historicalMigration === true},"batch":[`
  return createHttpSink(
    {
      name: options.name ?? `posthog:${host.host}`,
      component: COMPONENT,
      url,
      shownTarget: `${url.origin}${url.pathname}`,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      secrets: [apiKey],
      toPayload: toBatchEvent,
      encodeBody: (events) => gzipAsync(`${envelope}${events.join(',')}]}`),
      refusalHint: (status) =>
        status === 401 || status === 403
          ? 'check the API key'
          : status === 413
            ? 'lower maxEventsPerRequest or maxBytesPerRequest'
            : 'PostHog did not accept these events',
    },
    options,
  )
}

/** An event as PostHog's capture API takes it. */
function toBatchEvent(event: ProcessedPluginEvent) {
  const properties: Properties = { ...event.properties }
  if (event.$set) properties.$set = { ...asObject(properties.$set), ...event.$set }
  if (event.$set_once) properties.$set_once = { ...asObject(properties.$set_once), ...event.$set_once }
  if (event.ip && properties.$ip === undefined) properties.$ip = event.ip
  return {
    event: event.event,
    distinct_id: event.distinct_id,
    properties,
    timestamp: event.timestamp,
    uuid: event.uuid,
  }
}

function asObject(value: unknown): Properties | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Properties)
    : undefined
}
