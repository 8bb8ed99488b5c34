import { type ClientConfig, PubSub, type Subscription, type Topic } from '@google-cloud/pubsub'
import { type Endpoint, GrpcStatus, grpcStatus } from './errors.js'

/** How to reach Pub/Sub; shared by {@link PubSubQueueOptions} and {@link PubSubSinkOptions}. */
export interface PubSubConnectionOptions {
  /**
   * The Google Cloud project. With the emulator any id works (it must still be given, or set
   * `PUBSUB_PROJECT_ID`); against Google Cloud it defaults to the project of the credentials.
   */
  projectId?: string
  /**
   * `host:port` of the Pub/Sub API. Defaults to `PUBSUB_EMULATOR_HOST` (the emulator, e.g.
   * `127.0.0.1:8085`), else Google Cloud (`pubsub.googleapis.com`).
   */
  apiEndpoint?: string
  /**
   * A client to use instead of creating one. Sluice never closes a client it was given; the other
   * connection options are ignored then.
   */
  pubsub?: PubSub
  /**
   * Create topics (and, for consumers, subscriptions) that do not exist yet. Turn it off when an
   * operator manages them and the credentials may only publish and subscribe.
   * @default true
   */
  createMissing?: boolean
  /**
   * Message retention, in seconds, of the topics Sluice creates (10 minutes to 31 days; 0 for none).
   * It is what lets a consumer group whose subscription is created later still receive what was
   * published before (see the README). Topics that already exist keep their own setting.
   * @default 86_400 (one day)
   */
  topicRetentionSeconds?: number
  /**
   * Time limit of one call to Pub/Sub (create, publish), retries included.
   * @default 30_000
   */
  timeoutMs?: number
}

/** A ready client and what error messages need to know about it. */
export interface Connection {
  pubsub: PubSub
  endpoint: Endpoint
  /** Whether Sluice created the client, and so closes it. */
  owned: boolean
  createMissing: boolean
  topicRetentionSeconds: number
  timeoutMs: number
}

const DEFAULT_RETENTION_SECONDS = 86_400
const DEFAULT_TIMEOUT_MS = 30_000

/** Reads the connection settings; `invalid` builds the port's error for bad options. */
export function connect(options: PubSubConnectionOptions, invalid: (message: string) => Error): Connection {
  const createMissing = options.createMissing ?? true
  const topicRetentionSeconds = options.topicRetentionSeconds ?? DEFAULT_RETENTION_SECONDS
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (
    !Number.isInteger(topicRetentionSeconds) ||
    (topicRetentionSeconds !== 0 && (topicRetentionSeconds < 600 || topicRetentionSeconds > 31 * 86_400))
  ) {
    throw invalid(
      `topicRetentionSeconds must be 0 or whole seconds from 600 (10 minutes) to 2678400 (31 days), got ${String(topicRetentionSeconds)}`,
    )
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw invalid(`timeoutMs must be a positive number, got ${String(timeoutMs)}`)
  }
  const shared = { createMissing, topicRetentionSeconds, timeoutMs }

  if (options.pubsub) {
    const { pubsub } = options
    const { servicePath, port } = pubsub.options
    return {
      pubsub,
      owned: false,
      endpoint: {
        address: servicePath ? `${servicePath}:${String(port ?? 443)}` : 'pubsub.googleapis.com:443',
        emulator: pubsub.isEmulator,
        source: pubsub.options.apiEndpoint
          ? 'apiEndpoint'
          : pubsub.isEmulator
            ? 'PUBSUB_EMULATOR_HOST'
            : 'default',
      },
      ...shared,
    }
  }

  const fromEnv = process.env.PUBSUB_EMULATOR_HOST
  const address = stripScheme(options.apiEndpoint ?? fromEnv ?? '')
  const emulator = address !== '' && !/\.googleapis\.com(:\d+)?$/.test(address)
  const projectId = options.projectId ?? process.env.PUBSUB_PROJECT_ID
  if (emulator && !projectId) {
    throw invalid(
      `projectId is required with the Pub/Sub emulator at ${address} (any id works, e.g. 'sluice-local'; or set PUBSUB_PROJECT_ID)`,
    )
  }
  const config: ClientConfig = {}
  if (projectId) config.projectId = projectId
  if (options.apiEndpoint) config.apiEndpoint = options.apiEndpoint
  // The emulator needs no credentials, but the client still asks the GCE metadata server for the
  // universe domain (a MetadataLookupWarning off Google Cloud). Naming it skips the lookup.
  if (emulator) config.clientOptions = { universeDomain: 'googleapis.com' }
  return {
    pubsub: new PubSub(config),
    owned: true,
    endpoint: {
      address: address || 'pubsub.googleapis.com:443',
      emulator,
      source: options.apiEndpoint ? 'apiEndpoint' : fromEnv ? 'PUBSUB_EMULATOR_HOST' : 'default',
    },
    ...shared,
  }
}

function stripScheme(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '')
}

const NAME = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/

/**
 * Why `name` cannot be a Pub/Sub topic or subscription id, or undefined when it can: 3–255
 * characters, starting with a letter, of letters, digits and `- _ . ~ + %`, not starting with `goog`.
 */
export function invalidResourceName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0)
    return `must be a non-empty string, got ${JSON.stringify(name)}`
  if (!NAME.test(name) || name.toLowerCase().startsWith('goog')) {
    return (
      `'${name}' is not a valid Pub/Sub name: use 3–255 characters, starting with a letter, of letters, ` +
      "digits and - _ . ~ + %, not starting with 'goog'"
    )
  }
  return undefined
}

/**
 * Creates `topic` unless it exists (with the configured message retention). Without
 * `createMissing` it does nothing, and credentials that may not create topics (publisher only) are
 * taken to mean an operator made it: publishing reports a missing topic as `not-found`.
 */
export async function ensureTopic(connection: Connection, name: string): Promise<void> {
  if (!connection.createMissing) return
  const metadata: { name: string; messageRetentionDuration?: { seconds: number } } = { name }
  if (connection.topicRetentionSeconds > 0) {
    metadata.messageRetentionDuration = { seconds: connection.topicRetentionSeconds }
  }
  try {
    await connection.pubsub.createTopic(metadata, { timeout: connection.timeoutMs })
  } catch (error) {
    const status = grpcStatus(error)
    if (status !== GrpcStatus.ALREADY_EXISTS && status !== GrpcStatus.PERMISSION_DENIED) throw error
  }
}

/** What {@link ensureSubscription} found or did. */
export interface EnsuredSubscription {
  /** Whether this call created the subscription. */
  created: boolean
  /**
   * Why a new subscription could not be moved back over the topic's retained messages (so records
   * published before it existed will not reach it), if that failed.
   */
  rewindError?: unknown
}

/** Settings of subscriptions Sluice creates, beyond message ordering (which is always on). */
export interface SubscriptionSettings {
  ackDeadlineSeconds: number
  /** Extra fields for the create request (retryPolicy, deadLetterPolicy, expirationPolicy, …). */
  extra: Readonly<Record<string, unknown>>
}

/**
 * Creates subscription `name` on `topic` with message ordering unless it exists, then checks that
 * an existing one belongs to `topic` and orders messages. A new subscription is moved back over the
 * topic's retained messages (seek), so a group's first consumer also receives what was published
 * before it; the emulator has no seek but already hands a new subscription the retained messages.
 */
export async function ensureSubscription(
  connection: Connection,
  topic: Topic,
  name: string,
  settings: SubscriptionSettings,
  mismatch: (message: string) => Error,
): Promise<EnsuredSubscription> {
  const subscription = connection.pubsub.subscription(name)
  const gaxOpts = { timeout: connection.timeoutMs }
  if (connection.createMissing) {
    try {
      await topic.createSubscription(name, {
        ...settings.extra,
        ackDeadlineSeconds: settings.ackDeadlineSeconds,
        enableMessageOrdering: true,
        gaxOpts,
      })
      const rewindError = await rewind(connection, subscription)
      return rewindError === undefined ? { created: true } : { created: true, rewindError }
    } catch (error) {
      // Without the right to create subscriptions, an operator is taken to have made it.
      const status = grpcStatus(error)
      if (status !== GrpcStatus.ALREADY_EXISTS && status !== GrpcStatus.PERMISSION_DENIED) throw error
    }
  }
  let metadata: { topic?: string | null; enableMessageOrdering?: boolean | null }
  try {
    ;[metadata] = await subscription.getMetadata({ timeout: connection.timeoutMs })
  } catch (error) {
    // roles/pubsub.subscriber may consume but not read a subscription's settings: trust them then.
    if (grpcStatus(error) === GrpcStatus.PERMISSION_DENIED) return { created: false }
    throw error
  }
  if (metadata.topic && metadata.topic !== topic.name) {
    throw mismatch(
      `subscription '${name}' belongs to topic ${metadata.topic}, not ${topic.name}: a consumer group is a ` +
        'Pub/Sub subscription, which reads one topic — use another group name for this topic',
    )
  }
  if (!metadata.enableMessageOrdering) {
    throw mismatch(
      `subscription '${name}' was created without message ordering, so records of one key could arrive out of ` +
        'order — recreate it with enableMessageOrdering (it cannot be changed later), or let Sluice create it',
    )
  }
  return { created: false }
}

/** Seeks a new subscription back by the retention period; resolves with the error if that failed. */
async function rewind(connection: Connection, subscription: Subscription): Promise<unknown> {
  if (connection.topicRetentionSeconds === 0) return undefined
  const since = new Date(Date.now() - connection.topicRetentionSeconds * 1000)
  try {
    await subscription.seek(since, { timeout: connection.timeoutMs })
    return undefined
  } catch (error) {
    if (grpcStatus(error) === GrpcStatus.UNIMPLEMENTED && connection.endpoint.emulator) return undefined
    return error
  }
}
