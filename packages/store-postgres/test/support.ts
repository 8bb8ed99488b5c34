import {
  describeBusConformance,
  describeDeadLetterConformance,
  describeJobQueueConformance,
  describeLogSinkConformance,
  describeMetricsSinkConformance,
  describeRegistryConformance,
  describeSinkConformance,
  describeStorageConformance,
  type SinkUnderTest,
  type SuiteEnv,
} from '@sluice/conformance'
import type { ProcessedPluginEvent } from '@sluice/core'
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../src/index.js'

/** The server the integration tests use. */
export const postgresUrl = process.env.SLUICE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A schema name for a test namespace: the same namespace always gives the same schema. */
export function schemaFor(namespace: string): string {
  return `sluice_${namespace.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63).replace(/_+$/, '')
}

/** Runs SQL outside any store: a pg client or a PGlite instance. */
export type RawQuery = (sql: string, params?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>

/** Store options without the schema and clock, which each test sets. */
export type ConnectionOptions = PostgresStoreOptions extends infer O
  ? O extends PostgresStoreOptions
    ? Omit<O, 'schema' | 'clock'>
    : never
  : never

/**
 * Store factories for the conformance suites: each test gets a schema derived from its namespace,
 * so a second store within the test shares its data. Remembers the schemas, to drop them at the end.
 */
export function storeFactories(connection: ConnectionOptions) {
  const stores = new Map<unknown, PostgresStore>()
  const schemas = new Set<string>()
  const open = async (env: SuiteEnv) => {
    const schema = schemaFor(env.namespace)
    schemas.add(schema)
    return createPostgresStore({ ...connection, schema, clock: env.time.clock })
  }
  return {
    schemas,
    /** A factory returning one port of a fresh store; `close` closes that store. */
    port<T>(select: (store: PostgresStore) => T) {
      return {
        factory: async (env: SuiteEnv) => {
          const store = await open(env)
          const port = select(store)
          stores.set(port, store)
          return port
        },
        close: async (port: T) => {
          await stores.get(port)?.close()
          stores.delete(port)
        },
      }
    },
    /** A sink over `table` in the test's schema, read back through `query`. */
    sink(query: RawQuery, table = 'events_out') {
      return {
        factory: async (env: SuiteEnv): Promise<SinkUnderTest> => {
          const store = await open(env)
          const sink = store.createSink({ table })
          const target: SinkUnderTest = { sink, read: () => readSinkTable(query, store.schema, table) }
          stores.set(target, store)
          return target
        },
        close: async (target: SinkUnderTest) => {
          await target.sink.close()
          await stores.get(target)?.close()
          stores.delete(target)
        },
      }
    },
    /** Drops every schema a factory created. */
    async dropSchemas(query: RawQuery) {
      for (const schema of schemas) await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      schemas.clear()
    },
  }
}

/** Every event a sink table holds, in write order, in the shape the sink was given. */
export async function readSinkTable(
  query: RawQuery,
  schema: string,
  table: string,
): Promise<ProcessedPluginEvent[]> {
  const { rows } = await query(
    `SELECT uuid, team_id, distinct_id, event, (extract(epoch FROM timestamp) * 1000)::float8 AS time_ms, ip,
       properties, set_properties, set_once_properties, elements
     FROM "${schema}"."${table}" ORDER BY seq`,
  )
  return rows.map((row) => {
    const event: ProcessedPluginEvent = {
      uuid: row.uuid as string,
      distinct_id: row.distinct_id as string,
      ip: (row.ip as string | null) ?? null,
      team_id: Number(row.team_id),
      event: row.event as string,
      timestamp: new Date(Number(row.time_ms)).toISOString(),
      properties: row.properties as ProcessedPluginEvent['properties'],
    }
    if (row.set_properties !== null) event.$set = row.set_properties as ProcessedPluginEvent['properties']
    if (row.set_once_properties !== null) {
      event.$set_once = row.set_once_properties as ProcessedPluginEvent['properties']
    }
    if (row.elements !== null) event.elements = row.elements as ProcessedPluginEvent['elements']
    return event
  })
}

/**
 * Runs every conformance suite the store's ports have, over `stores`. Two stores of one test share
 * a schema the way two processes share a server, so the durable and cross-instance cases run too.
 */
export function describeStoreConformance(
  name: string,
  stores: ReturnType<typeof storeFactories>,
  query: RawQuery,
): void {
  const shared = { durable: true, sharedAcrossInstances: true }

  const registry = stores.port((store) => store.registry)
  describeRegistryConformance(name, registry.factory, {}, { close: registry.close })

  const storage = stores.port((store) => store.storage)
  describeStorageConformance(name, storage.factory, shared, { close: storage.close })

  const jobQueue = stores.port((store) => store.jobQueue)
  describeJobQueueConformance(name, jobQueue.factory, shared, { close: jobQueue.close })

  const logSink = stores.port((store) => store.logSink)
  describeLogSinkConformance(name, logSink.factory, {}, { close: logSink.close })

  const metrics = stores.port((store) => store.metricsSink)
  describeMetricsSinkConformance(name, metrics.factory, {}, { close: metrics.close })

  const deadLetters = stores.port((store) => store.deadLetters)
  describeDeadLetterConformance(name, deadLetters.factory, {}, { close: deadLetters.close })

  const bus = stores.port((store) => store.bus)
  describeBusConformance(name, bus.factory, { sharedAcrossInstances: true }, { close: bus.close })

  const sink = stores.sink(query)
  describeSinkConformance(name, sink.factory, {}, { close: sink.close })
}
