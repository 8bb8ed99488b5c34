import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CONFIG_VARIABLES, ConfigError, loadServerConfig } from './config.js'

const load = (env: Record<string, string>) => loadServerConfig(env, '/srv/sluice')

const problemsOf = (env: Record<string, string>): readonly string[] => {
  try {
    load(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadServerConfig', () => {
  it('runs embedded with no settings: memory queue, PGlite and a JSONL file in the data folder', () => {
    const config = load({})
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      dataDir: '/srv/sluice/.sluice-data',
      adminToken: null,
      queue: 'memory',
      databaseUrl: null,
      redisUrl: null,
      sinks: [{ kind: 'file', path: '/srv/sluice/.sluice-data/events.jsonl' }],
      projectTokens: null,
      ingestionTopic: 'sluice_events',
      consumerGroup: 'sluice',
      logLevel: 'info',
    })
  })

  it('selects Kafka, Postgres, Redis and several sinks', () => {
    const config = load({
      SLUICE_QUEUE: 'kafka',
      KAFKA_BROKERS: '127.0.0.1:9092,127.0.0.1:9093',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SLUICE_SINKS:
        'stdout, kafka:events_out,postgres:events,file:out/e.jsonl,posthog:https://eu.posthog.com',
      SLUICE_POSTHOG_SINK_API_KEY: 'phc_key',
      SLUICE_PROJECT_TOKENS: 'phc_a=1,phc_b=7',
      SLUICE_PORT: '0',
    })
    expect(config.queue).toBe('kafka')
    expect(config.kafka).toEqual({
      brokers: '127.0.0.1:9092,127.0.0.1:9093',
      ssl: false,
      sasl: null,
      sessionTimeoutMs: 30_000,
      consumers: 2,
    })
    expect(config.sinks).toEqual([
      { kind: 'stdout' },
      { kind: 'kafka', topic: 'events_out' },
      { kind: 'postgres', table: 'events' },
      { kind: 'file', path: '/srv/sluice/out/e.jsonl' },
      { kind: 'posthog', url: 'https://eu.posthog.com/' },
    ])
    expect([...(config.projectTokens ?? [])]).toEqual([
      ['phc_a', 1],
      ['phc_b', 7],
    ])
    expect(config.port).toBe(0)
  })

  it('lists every problem at once, each saying what to do', () => {
    const problems = problemsOf({
      SLUICE_QUEUE: 'kafka',
      SLUICE_PORT: '80000',
      SLUICE_SINKS: 'kafak:x,posthog:https://h.example',
      SLUICE_ADMIN_TOKEN: 'short',
      DATABASE_URL: 'mysql://x',
      SLUICE_LOG_LEVEL: 'loud',
      SLUICE_PROJECT_TOKENS: 'phc_secret_value=abc',
    })
    expect(problems).toEqual([
      'SLUICE_ADMIN_TOKEN is shorter than 16 characters: use a long random value (openssl rand -hex 24)',
      'SLUICE_QUEUE=kafka needs KAFKA_BROKERS, e.g. KAFKA_BROKERS=127.0.0.1:9092',
      'DATABASE_URL must be a postgres:// or postgresql:// URL',
      'SLUICE_SINKS: kafak is not a sink: use stdout, file:, kafka:, pubsub:, postgres:, posthog: or webhook:',
      'a posthog: sink needs SLUICE_POSTHOG_SINK_API_KEY (the project API key of that instance)',
      'SLUICE_PROJECT_TOKENS: "phc_…" is not token=team with a team id ≥ 1',
      'SLUICE_LOG_LEVEL=loud is not one of debug, info, warn, error',
      'SLUICE_PORT=80000 is not a whole number from 0 to 65535',
    ])
  })

  it('sets the plugin sandbox limits, 30 s and 128 MB unless told otherwise', () => {
    expect(load({}).pluginLimits).toEqual({ callTimeoutMs: 30_000, memoryLimitMb: 128 })
    expect(load({ SLUICE_PLUGIN_TIMEOUT_MS: '2000', SLUICE_PLUGIN_MEMORY_MB: '64' }).pluginLimits).toEqual({
      callTimeoutMs: 2000,
      memoryLimitMb: 64,
    })
    expect(problemsOf({ SLUICE_PLUGIN_TIMEOUT_MS: '5s', SLUICE_PLUGIN_MEMORY_MB: '1' })).toEqual([
      'SLUICE_PLUGIN_TIMEOUT_MS=5s is not a whole number from 100 to 3600000',
      'SLUICE_PLUGIN_MEMORY_MB=1 is not a whole number from 8 to 65536',
    ])
  })

  it('connects to Kafka over TLS and SASL when told, and says what is missing otherwise', () => {
    const ca = join(mkdtempSync(join(tmpdir(), 'sluice-config-')), 'ca.pem')
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    expect(
      load({
        KAFKA_BROKERS: 'broker.example:9094',
        KAFKA_SSL_CA_FILE: ca,
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'sluice',
        KAFKA_SASL_PASSWORD: 'pa55',
        SLUICE_KAFKA_SESSION_TIMEOUT_MS: '10000',
        SLUICE_KAFKA_CONSUMERS: '3',
      }).kafka,
    ).toEqual({
      brokers: 'broker.example:9094',
      ssl: { ca: readFileSync(ca, 'utf8') },
      sasl: { mechanism: 'scram-sha-512', username: 'sluice', password: 'pa55' },
      sessionTimeoutMs: 10_000,
      consumers: 3,
    })
    expect(load({ KAFKA_SSL: 'true' }).kafka.ssl).toBe(true)
    const problems = problemsOf({
      KAFKA_SSL_CA_FILE: '/nowhere/ca.pem',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_PASSWORD: 'hunter2',
      SLUICE_KAFKA_SESSION_TIMEOUT_MS: '1000',
      SLUICE_KAFKA_CONSUMERS: '0',
    })
    expect(problems).toEqual([
      expect.stringMatching(/^KAFKA_SSL_CA_FILE=\/nowhere\/ca.pem cannot be read: ENOENT/),
      'KAFKA_SASL_MECHANISM=plain needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
      'SLUICE_KAFKA_SESSION_TIMEOUT_MS=1000 is not a whole number from 6000 to 3600000',
      'SLUICE_KAFKA_CONSUMERS=0 is not a whole number from 1 to 64',
    ])
    expect(problems.join('\n')).not.toContain('hunter2')
    expect(
      problemsOf({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }),
    ).toEqual(['KAFKA_SASL_MECHANISM=gssapi is not one of plain, scram-sha-256, scram-sha-512'])
    expect(problemsOf({ KAFKA_SASL_USERNAME: 'u' })).toEqual([
      'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM (plain, scram-sha-256 or scram-sha-512)',
    ])
  })

  it('refuses an unknown SLUICE_ variable and suggests the nearest one', () => {
    expect(problemsOf({ SLUICE_PROT: '9000' })).toEqual([
      "SLUICE_PROT is not a Sluice setting; did you mean SLUICE_PORT? (the README's Configuration section lists them)",
    ])
  })

  it('never repeats a token or a webhook header value in its messages', () => {
    const error = (() => {
      try {
        load({
          SLUICE_WEBHOOK_SINK_HEADERS: '{"authorization": 12345678901}',
          SLUICE_PROJECT_TOKENS: 'phc_topsecret',
        })
      } catch (caught) {
        return caught as Error
      }
      return null
    })()
    expect(error?.message).toContain('SLUICE_WEBHOOK_SINK_HEADERS must be a JSON object of strings')
    expect(error?.message).not.toContain('12345678901')
    expect(error?.message).not.toContain('topsecret')
  })

  it('is documented variable by variable in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf('## Configuration'))
    for (const name of Object.keys(CONFIG_VARIABLES)) expect(section, name).toContain(`\`${name}\``)
  })
})
