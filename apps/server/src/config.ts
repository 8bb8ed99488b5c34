// The server's whole configuration: environment variables, read and checked here and nowhere else.
// Every variable is documented in the README ("Configuration"); a test keeps the two in step.
import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'

/** Where processed events go. */
export type SinkSetting =
  | { kind: 'stdout' }
  | { kind: 'file'; path: string }
  | { kind: 'kafka'; topic: string }
  | { kind: 'pubsub'; topic: string }
  | { kind: 'postgres'; table: string }
  | { kind: 'posthog'; url: string }
  | { kind: 'webhook'; url: string }

/** SASL mechanisms that a user name and password configure. */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

/** How the server reaches Kafka, for the queue and the kafka sinks alike. */
export interface KafkaSettings {
  /** Bootstrap brokers; null when Kafka is not used. */
  brokers: string | null
  /** TLS: off, on with the system's CAs, or on with the CA certificates of a PEM file. */
  ssl: boolean | { ca: string }
  /** Authentication; the password is a secret, never logged. */
  sasl: { mechanism: (typeof KAFKA_SASL_MECHANISMS)[number]; username: string; password: string } | null
  /** How long an instance that stopped heartbeating keeps its partitions. */
  sessionTimeoutMs: number
  /** Group members this process runs on the ingestion topic (each with its own fetch loop). */
  consumers: number
}

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The validated configuration of one server process. */
export interface ServerConfig {
  host: string
  port: number
  /** Absolute; holds the embedded database, the admin token's hash and the default event file. */
  dataDir: string
  /** Set by the operator; when absent one is generated on first start and printed once. */
  adminToken: string | null
  queue: 'memory' | 'kafka' | 'pubsub'
  /** Bootstrap brokers of the Kafka queue and sinks; null when Kafka is not used. */
  kafka: KafkaSettings
  /** Google Cloud project of the Pub/Sub queue and sinks. */
  pubsubProjectId: string
  /** `host:port` of the Pub/Sub emulator; null: Google Cloud. */
  pubsubEmulatorHost: string | null
  /** null: the embedded PGlite database in `<dataDir>/pglite`. */
  databaseUrl: string | null
  /** null: cache, lock and bus in this process (one instance only). */
  redisUrl: string | null
  sinks: SinkSetting[]
  posthogSink: { apiKey: string | null }
  webhookSink: { headers: Record<string, string> }
  /** Project token → team id; null: every token is accepted as team 1. */
  projectTokens: ReadonlyMap<string, number> | null
  ingestionTopic: string
  consumerGroup: string
  maxBatchSize: number
  /** Events the in-memory queue holds unprocessed before capture answers 503. */
  memoryQueueMaxEvents: number
  maxBodyBytes: number
  shutdownTimeoutMs: number
  logLevel: LogLevel
  instanceId: string | null
  /** Plugins' `fetch`: private networks reachable, extra allowed hosts. */
  pluginFetch: { allowPrivateNetworks: boolean; allowedHosts: string[] }
  /** `posthog.api` of plugins. */
  posthogApi: { host: string | null; personalApiKey: string | null }
  geoipDatabase: string | null
  /** Limits of every plugin call and isolate (SPEC §2.2). */
  pluginLimits: { callTimeoutMs: number; memoryLimitMb: number }
}

/** The configuration was wrong; `problems` says what, one line per variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `the server's configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    )
    this.name = 'ConfigError'
  }
}

/** Every variable the server reads, with what it does: the README's table is checked against it. */
export const CONFIG_VARIABLES = {
  SLUICE_HOST: 'Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).',
  SLUICE_PORT: 'Port to listen on (default 8000; 0 picks a free one).',
  SLUICE_DATA_DIR:
    'Folder for the embedded database, the admin token hash and the default event file (default .sluice-data).',
  SLUICE_ADMIN_TOKEN:
    'Bearer token of the admin API (at least 16 characters). Unset: generated on first start, printed once.',
  SLUICE_QUEUE: 'Ingestion queue: memory (default), kafka or pubsub.',
  KAFKA_BROKERS:
    'Kafka bootstrap brokers, host:port[,host:port] (required with SLUICE_QUEUE=kafka or a kafka sink).',
  KAFKA_SSL: 'true: connect to Kafka over TLS, trusting the system CAs (default false).',
  KAFKA_SSL_CA_FILE: "PEM file of the CA that signed the brokers' certificates (sets KAFKA_SSL).",
  KAFKA_SASL_MECHANISM: 'Kafka authentication: plain, scram-sha-256 or scram-sha-512 (default none).',
  KAFKA_SASL_USERNAME: 'User name for KAFKA_SASL_MECHANISM.',
  KAFKA_SASL_PASSWORD: 'Password for KAFKA_SASL_MECHANISM (a secret: never logged).',
  SLUICE_KAFKA_SESSION_TIMEOUT_MS:
    "How long a stopped or unreachable instance keeps its partitions before the others take them (default 30000; within the brokers' group.min/max.session.timeout.ms).",
  SLUICE_KAFKA_CONSUMERS:
    'Consumers this instance runs in the group, each fetching for its share of the partitions while the others work (default 2; 1 to 64).',
  PUBSUB_PROJECT_ID: 'Google Cloud project of the Pub/Sub queue and sinks (default sluice).',
  PUBSUB_EMULATOR_HOST: 'host:port of the Pub/Sub emulator; unset: Google Cloud.',
  DATABASE_URL:
    'Postgres connection URL for plugins, configs, storage, jobs, logs and dead letters. Unset: embedded PGlite in the data folder.',
  REDIS_URL:
    'Redis URL for the cache, the schedule lock and config-change notices. Unset: kept in this process (one instance only).',
  SLUICE_SINKS:
    'Comma-separated sinks: stdout, file:<path>, kafka:<topic>, pubsub:<topic>, postgres:<table>, posthog:<url>, webhook:<url> (default file:<data dir>/events.jsonl).',
  SLUICE_POSTHOG_SINK_API_KEY:
    'Project API key the posthog: sink sends events with (required with that sink).',
  SLUICE_WEBHOOK_SINK_HEADERS:
    'JSON object of extra headers for the webhook: sink, e.g. {"authorization":"Bearer …"}.',
  SLUICE_PROJECT_TOKENS:
    'Accepted project tokens and their teams: token=team[,token=team]. Unset: every token is team 1.',
  SLUICE_INGESTION_TOPIC: 'Topic (or Pub/Sub topic) captured events are queued on (default sluice_events).',
  SLUICE_CONSUMER_GROUP:
    'Consumer group (Pub/Sub subscription) instances share the work in (default sluice).',
  SLUICE_MAX_BATCH_SIZE: 'Events per pipeline batch (default 500).',
  SLUICE_MEMORY_QUEUE_MAX_EVENTS:
    'Events the in-memory queue holds unprocessed before capture answers 503 so SDKs retry (default 100000; memory queue only).',
  SLUICE_MAX_BODY_BYTES: 'Largest capture or admin request body in bytes (default 20971520).',
  SLUICE_SHUTDOWN_TIMEOUT_MS:
    'How long a graceful shutdown may take before the process exits anyway (default 30000).',
  SLUICE_LOG_LEVEL: 'debug, info (default), warn or error.',
  SLUICE_INSTANCE_ID: 'Name of this instance in logs and locks (default <hostname>-<pid>).',
  SLUICE_PLUGIN_ALLOW_PRIVATE_NETWORKS:
    'true: plugins may fetch loopback and private addresses (default false).',
  SLUICE_PLUGIN_ALLOWED_HOSTS: 'Comma-separated hosts plugins may fetch even though they are private.',
  SLUICE_POSTHOG_API_HOST: 'PostHog instance that plugins reach through posthog.api.',
  SLUICE_POSTHOG_PERSONAL_API_KEY: 'Personal API key posthog.api authenticates with.',
  SLUICE_GEOIP_DATABASE: 'MaxMind City .mmdb file answering meta.geoip.locate.',
  SLUICE_PLUGIN_TIMEOUT_MS:
    'Wall time of one plugin call, awaited promises and runaway loops included (default 30000).',
  SLUICE_PLUGIN_MEMORY_MB:
    "Heap limit of a plugin's sandbox in MB; going over it rebuilds that sandbox only (default 128).",
} as const

type Env = Readonly<Record<string, string | undefined>>

const editDistance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j] as number
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length] as number
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/

/**
 * Reads the server's configuration from `env` (normally `process.env`), resolving relative paths
 * against `cwd`. Throws a {@link ConfigError} listing every problem at once; an unknown `SLUICE_*`
 * variable is a problem too (with the nearest known name), so a typo never silently falls back
 * to a default.
 */
export function loadServerConfig(env: Env, cwd: string): ServerConfig {
  const problems: string[] = []
  const text = (name: keyof typeof CONFIG_VARIABLES): string | null => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? null : value
  }
  const integer = (
    name: keyof typeof CONFIG_VARIABLES,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    const value = text(name)
    if (value === null) return fallback
    const parsed = Number(value)
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      problems.push(`${name}=${value} is not a whole number from ${min} to ${max}`)
      return fallback
    }
    return parsed
  }
  const flag = (name: keyof typeof CONFIG_VARIABLES): boolean => {
    const value = text(name)?.toLowerCase()
    if (value === undefined || value === 'false' || value === '0') return false
    if (value === 'true' || value === '1') return true
    problems.push(`${name}=${text(name)} must be true or false`)
    return false
  }
  const path = (value: string) => (isAbsolute(value) ? value : resolve(cwd, value))
  const httpUrl = (name: string, value: string): string | null => {
    try {
      const url = new URL(value)
      if (url.protocol === 'http:' || url.protocol === 'https:') return url.href
    } catch {}
    problems.push(`${name}: ${value.split('?')[0]} is not an http(s) URL`)
    return null
  }

  for (const name of Object.keys(env)) {
    if (!name.startsWith('SLUICE_') || name in CONFIG_VARIABLES || name.startsWith('SLUICE_TEST_')) continue
    const known = Object.keys(CONFIG_VARIABLES)
    const nearest = known.reduce((best, candidate) =>
      editDistance(name, candidate) < editDistance(name, best) ? candidate : best,
    )
    const hint = editDistance(name, nearest) <= 3 ? `; did you mean ${nearest}?` : ''
    problems.push(`${name} is not a Sluice setting${hint} (the README's Configuration section lists them)`)
  }

  const dataDir = path(text('SLUICE_DATA_DIR') ?? '.sluice-data')
  const adminToken = text('SLUICE_ADMIN_TOKEN')
  if (adminToken !== null && adminToken.length < 16) {
    problems.push(
      'SLUICE_ADMIN_TOKEN is shorter than 16 characters: use a long random value (openssl rand -hex 24)',
    )
  }

  let queue: ServerConfig['queue'] = 'memory'
  const queueKind = text('SLUICE_QUEUE') ?? 'memory'
  const brokers = text('KAFKA_BROKERS')
  if (queueKind === 'kafka' || queueKind === 'pubsub' || queueKind === 'memory') queue = queueKind
  else problems.push(`SLUICE_QUEUE=${queueKind} is not a queue: use memory, kafka or pubsub`)
  if (queue === 'kafka' && brokers === null) {
    problems.push('SLUICE_QUEUE=kafka needs KAFKA_BROKERS, e.g. KAFKA_BROKERS=127.0.0.1:9092')
  }
  const kafkaCaFile = text('KAFKA_SSL_CA_FILE')
  let kafkaSsl: KafkaSettings['ssl'] = flag('KAFKA_SSL')
  if (kafkaCaFile !== null) {
    try {
      kafkaSsl = { ca: readFileSync(path(kafkaCaFile), 'utf8') }
    } catch (error) {
      problems.push(`KAFKA_SSL_CA_FILE=${kafkaCaFile} cannot be read: ${(error as Error).message}`)
    }
  }
  const saslMechanism = text('KAFKA_SASL_MECHANISM')?.toLowerCase() ?? null
  const saslUsername = text('KAFKA_SASL_USERNAME')
  const saslPassword = text('KAFKA_SASL_PASSWORD')
  let kafkaSasl: KafkaSettings['sasl'] = null
  if (saslMechanism === null) {
    if (saslUsername !== null || saslPassword !== null) {
      problems.push(
        'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM (plain, scram-sha-256 or scram-sha-512)',
      )
    }
  } else if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(saslMechanism)) {
    problems.push(`KAFKA_SASL_MECHANISM=${saslMechanism} is not one of ${KAFKA_SASL_MECHANISMS.join(', ')}`)
  } else if (saslUsername === null || saslPassword === null) {
    problems.push(`KAFKA_SASL_MECHANISM=${saslMechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`)
  } else {
    kafkaSasl = {
      mechanism: saslMechanism as (typeof KAFKA_SASL_MECHANISMS)[number],
      username: saslUsername,
      password: saslPassword,
    }
  }

  const databaseUrl = text('DATABASE_URL')
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL')
  }
  const redisUrl = text('REDIS_URL')
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl))
    problems.push('REDIS_URL must be a redis:// or rediss:// URL')

  const sinks: SinkSetting[] = []
  const sinkList = text('SLUICE_SINKS') ?? `file:${resolve(dataDir, 'events.jsonl')}`
  for (const entry of sinkList
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')) {
    const colon = entry.indexOf(':')
    const kind = colon < 0 ? entry : entry.slice(0, colon)
    const target = colon < 0 ? '' : entry.slice(colon + 1)
    const need = (what: string) =>
      problems.push(
        `SLUICE_SINKS: ${kind} needs ${what}, e.g. ${kind}:${what === 'a topic' ? 'events_out' : what === 'a table' ? 'events' : 'https://example.com/path'}`,
      )
    if (kind === 'stdout' && target === '') sinks.push({ kind: 'stdout' })
    else if (kind === 'file') {
      if (target === '') problems.push('SLUICE_SINKS: file needs a path, e.g. file:events.jsonl')
      else sinks.push({ kind: 'file', path: path(target) })
    } else if (kind === 'kafka' || kind === 'pubsub') {
      if (target === '') need('a topic')
      else if (!TOPIC.test(target))
        problems.push(`SLUICE_SINKS: ${target} is not a valid topic name (letters, digits, . _ -)`)
      else sinks.push({ kind, topic: target })
      if (kind === 'kafka' && brokers === null)
        problems.push('SLUICE_SINKS: a kafka sink needs KAFKA_BROKERS')
    } else if (kind === 'postgres') {
      if (target === '') need('a table')
      else if (!IDENTIFIER.test(target))
        problems.push(`SLUICE_SINKS: ${target} is not a table name (letters, digits, _)`)
      else sinks.push({ kind, table: target })
    } else if (kind === 'posthog' || kind === 'webhook') {
      if (target === '') need('a URL')
      const url = target === '' ? null : httpUrl(`SLUICE_SINKS ${kind}`, target)
      if (url !== null) sinks.push({ kind, url })
    } else {
      problems.push(
        `SLUICE_SINKS: ${entry.split(':')[0]} is not a sink: use stdout, file:, kafka:, pubsub:, postgres:, posthog: or webhook:`,
      )
    }
  }
  if (sinks.length === 0 && !problems.some((problem) => problem.startsWith('SLUICE_SINKS'))) {
    problems.push('SLUICE_SINKS is empty: name at least one sink, e.g. SLUICE_SINKS=stdout')
  }
  const posthogSinkKey = text('SLUICE_POSTHOG_SINK_API_KEY')
  if (sinks.some((sink) => sink.kind === 'posthog') && posthogSinkKey === null) {
    problems.push('a posthog: sink needs SLUICE_POSTHOG_SINK_API_KEY (the project API key of that instance)')
  }
  let webhookHeaders: Record<string, string> = {}
  const headersText = text('SLUICE_WEBHOOK_SINK_HEADERS')
  if (headersText !== null) {
    try {
      const parsed: unknown = JSON.parse(headersText)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error()
      if (!Object.values(parsed).every((value) => typeof value === 'string')) throw new Error()
      webhookHeaders = parsed as Record<string, string>
    } catch {
      problems.push(
        'SLUICE_WEBHOOK_SINK_HEADERS must be a JSON object of strings, e.g. {"authorization":"Bearer …"}',
      )
    }
  }

  let projectTokens: Map<string, number> | null = null
  const tokensText = text('SLUICE_PROJECT_TOKENS')
  if (tokensText !== null) {
    projectTokens = new Map()
    for (const pair of tokensText
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '')) {
      const [token = '', team = ''] = pair.split('=')
      const teamId = Number(team)
      if (token === '' || !/^\d+$/.test(team) || teamId < 1) {
        problems.push(
          `SLUICE_PROJECT_TOKENS: "${token === '' ? pair : `${token.slice(0, 4)}…`}" is not token=team with a team id ≥ 1`,
        )
      } else projectTokens.set(token, teamId)
    }
  }

  const ingestionTopic = text('SLUICE_INGESTION_TOPIC') ?? 'sluice_events'
  if (!TOPIC.test(ingestionTopic))
    problems.push(`SLUICE_INGESTION_TOPIC=${ingestionTopic} is not a valid topic name`)
  const consumerGroup = text('SLUICE_CONSUMER_GROUP') ?? 'sluice'
  if (!TOPIC.test(consumerGroup))
    problems.push(`SLUICE_CONSUMER_GROUP=${consumerGroup} is not a valid group name`)

  const logLevel = (text('SLUICE_LOG_LEVEL') ?? 'info').toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`SLUICE_LOG_LEVEL=${logLevel} is not one of ${LOG_LEVELS.join(', ')}`)
  }
  const posthogApiHostText = text('SLUICE_POSTHOG_API_HOST')
  const geoip = text('SLUICE_GEOIP_DATABASE')

  const config: ServerConfig = {
    host: text('SLUICE_HOST') ?? '127.0.0.1',
    port: integer('SLUICE_PORT', 8000, 0, 65535),
    dataDir,
    adminToken,
    queue,
    kafka: {
      brokers,
      ssl: kafkaSsl,
      sasl: kafkaSasl,
      sessionTimeoutMs: integer('SLUICE_KAFKA_SESSION_TIMEOUT_MS', 30_000, 6_000, 3_600_000),
      consumers: integer('SLUICE_KAFKA_CONSUMERS', 2, 1, 64),
    },
    pubsubProjectId: text('PUBSUB_PROJECT_ID') ?? 'sluice',
    pubsubEmulatorHost: text('PUBSUB_EMULATOR_HOST'),
    databaseUrl,
    redisUrl,
    sinks,
    posthogSink: { apiKey: posthogSinkKey },
    webhookSink: { headers: webhookHeaders },
    projectTokens,
    ingestionTopic,
    consumerGroup,
    maxBatchSize: integer('SLUICE_MAX_BATCH_SIZE', 500, 1, 10_000),
    memoryQueueMaxEvents: integer('SLUICE_MEMORY_QUEUE_MAX_EVENTS', 100_000, 1, 100_000_000),
    maxBodyBytes: integer('SLUICE_MAX_BODY_BYTES', 20 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    shutdownTimeoutMs: integer('SLUICE_SHUTDOWN_TIMEOUT_MS', 30_000, 1000, 3_600_000),
    logLevel: logLevel as LogLevel,
    instanceId: text('SLUICE_INSTANCE_ID'),
    pluginFetch: {
      allowPrivateNetworks: flag('SLUICE_PLUGIN_ALLOW_PRIVATE_NETWORKS'),
      allowedHosts: (text('SLUICE_PLUGIN_ALLOWED_HOSTS') ?? '')
        .split(',')
        .map((host) => host.trim())
        .filter(Boolean),
    },
    posthogApi: {
      host: posthogApiHostText === null ? null : httpUrl('SLUICE_POSTHOG_API_HOST', posthogApiHostText),
      personalApiKey: text('SLUICE_POSTHOG_PERSONAL_API_KEY'),
    },
    geoipDatabase: geoip === null ? null : path(geoip),
    pluginLimits: {
      callTimeoutMs: integer('SLUICE_PLUGIN_TIMEOUT_MS', 30_000, 100, 3_600_000),
      memoryLimitMb: integer('SLUICE_PLUGIN_MEMORY_MB', 128, 8, 65_536),
    },
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
