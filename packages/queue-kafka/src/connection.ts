import type { ConnectionOptions as TlsOptions } from 'node:tls'
import kafkajs, { type Kafka, type KafkaConfig, type logCreator, type SASLOptions } from 'kafkajs'

/** How much kafkajs itself logs (to stdout, as JSON lines). */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug'

/** Where the brokers are and how to reach them; shared by every factory of this package. */
export interface KafkaConnectionOptions {
  /**
   * Bootstrap brokers as `host:port`, a list or one comma-separated string (as in `KAFKA_BROKERS`).
   * @example '127.0.0.1:9092'
   */
  brokers: string | readonly string[]
  /**
   * Client id the brokers see in their logs and quotas.
   * @default 'sluice'
   */
  clientId?: string
  /** TLS: `true` for the system CAs, or Node's TLS options (CA, client certificate, …). */
  ssl?: boolean | TlsOptions
  /** SASL authentication (plain, scram-sha-256/512, aws, oauthbearer), as kafkajs takes it. */
  sasl?: SASLOptions
  /**
   * How long to wait for a TCP (and TLS) connection to a broker.
   * @default 3000
   */
  connectionTimeoutMs?: number
  /**
   * How long to wait for a broker's answer to a request.
   * @default 30000
   */
  requestTimeoutMs?: number
  /**
   * How often kafkajs retries a failed request (with exponential backoff from 300 ms) before the
   * operation fails with a retryable error.
   * @default 5
   */
  retries?: number
  /**
   * kafkajs's own log output. Failures reach you as errors either way; raise this to debug.
   * @default 'error'
   */
  logLevel?: KafkaLogLevel
}

/** Just the connection options of a factory's options (which may hold callbacks, such as `onError`). */
export function connectionOptions(options: KafkaConnectionOptions): KafkaConnectionOptions {
  const { brokers, clientId, ssl, sasl, connectionTimeoutMs, requestTimeoutMs, retries, logLevel } = options
  const picked: KafkaConnectionOptions = { brokers }
  if (clientId !== undefined) picked.clientId = clientId
  if (ssl !== undefined) picked.ssl = ssl
  if (sasl !== undefined) picked.sasl = sasl
  if (connectionTimeoutMs !== undefined) picked.connectionTimeoutMs = connectionTimeoutMs
  if (requestTimeoutMs !== undefined) picked.requestTimeoutMs = requestTimeoutMs
  if (retries !== undefined) picked.retries = retries
  if (logLevel !== undefined) picked.logLevel = logLevel
  return picked
}

const levels: Record<KafkaLogLevel, number> = {
  nothing: kafkajs.logLevel.NOTHING,
  error: kafkajs.logLevel.ERROR,
  warn: kafkajs.logLevel.WARN,
  info: kafkajs.logLevel.INFO,
  debug: kafkajs.logLevel.DEBUG,
}

/** The connection as this package uses it: a kafkajs client and a printable broker list. */
export interface KafkaConnection {
  readonly kafka: Kafka
  /** The brokers, credentials removed, for messages. */
  readonly brokers: readonly string[]
}

/** A kafkajs client connected on first use, and again on the next use after a failed connect. */
export interface LazyClient<T> {
  get(): Promise<T>
  /** Disconnects the client if it was connected; the next `get` connects a new one. */
  close(): Promise<void>
}

/** Wraps a kafkajs client (admin, producer) made by `create` in a {@link LazyClient}. */
export function lazyClient<T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(
  create: () => T,
): LazyClient<T> {
  let client: Promise<T> | undefined
  return {
    get() {
      if (client) return client
      const connecting = (async () => {
        const created = create()
        await created.connect()
        return created
      })()
      client = connecting
      connecting.catch(() => {
        if (client === connecting) client = undefined
      })
      return connecting
    },
    async close() {
      const pending = client
      client = undefined
      if (pending) await (await pending.catch(() => undefined))?.disconnect()
    },
  }
}

/** Turns `brokers` into a list of `host:port`, or explains what is wrong with it. */
export function parseBrokers(brokers: string | readonly string[]): string[] | string {
  const list = (typeof brokers === 'string' ? brokers.split(',') : [...brokers]).map((b) =>
    typeof b === 'string' ? b.trim() : '',
  )
  if (list.length === 0 || list.every((b) => b === '')) {
    return 'brokers is empty — pass at least one host:port (KAFKA_BROKERS)'
  }
  for (const broker of list) {
    if (!/^[^\s/]+:\d{1,5}$/.test(broker)) {
      return `broker "${redact(broker)}" is not host:port (KAFKA_BROKERS)`
    }
  }
  return list
}

/**
 * Removes credentials from text meant for messages: `user:secret@host` → `***@host`, and the
 * password part of `scheme://user:secret@…`.
 */
export function redact(text: string): string {
  return text.replace(/[^\s/@,]+@/g, '***@')
}

/** Creates the kafkajs client for `options`; `invalid` builds the error for bad options. */
export function connect(
  options: KafkaConnectionOptions,
  invalid: (message: string) => Error,
): KafkaConnection {
  const brokers = parseBrokers(options.brokers)
  if (typeof brokers === 'string') throw invalid(brokers)
  for (const [name, value] of [
    ['connectionTimeoutMs', options.connectionTimeoutMs],
    ['requestTimeoutMs', options.requestTimeoutMs],
    ['retries', options.retries],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw invalid(`${name} must be a non-negative integer, got ${String(value)}`)
    }
  }
  const level = levels[options.logLevel ?? 'error']
  if (level === undefined) throw invalid(`logLevel must be one of ${Object.keys(levels).join(', ')}`)
  const config: KafkaConfig = {
    brokers,
    clientId: options.clientId ?? 'sluice',
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: { retries: options.retries ?? 5 },
    logLevel: level,
    logCreator: createLogCreator(level),
  }
  if (options.ssl !== undefined)
    config.ssl = typeof options.ssl === 'object' ? { ...options.ssl } : options.ssl
  // A copy: kafkajs stores its authentication provider (a function) on the object on first use,
  // and the caller's options must stay plain data that can be posted to the producer thread.
  if (options.sasl !== undefined) config.sasl = { ...options.sasl }
  return { kafka: new kafkajs.Kafka(config), brokers: brokers.map(redact) }
}

/**
 * kafkajs's log lines as JSON, like its default, with credentials removed. Error responses of single
 * requests ("Response Metadata(…)") count as debug: kafkajs retries them, and what stays wrong
 * reaches the caller as an error anyway — at error level they would flood logs during every
 * rebalance and topic check.
 */
const createLogCreator =
  (threshold: number): logCreator =>
  () =>
  ({ namespace, level, label, log }) => {
    const { message, ...extra } = log
    const requestError = namespace === 'Connection' && String(message).startsWith('Response ')
    if (requestError && threshold < kafkajs.logLevel.DEBUG) return
    const line = JSON.stringify({ level: label, logger: 'kafkajs', namespace, message, ...extra })
    const out = level <= kafkajs.logLevel.ERROR ? console.error : console.log
    out(redact(line))
  }
