import {
  describeBusConformance,
  describeDeadLetterConformance,
  describeJobQueueConformance,
  describeLogSinkConformance,
  describeMetricsSinkConformance,
  describeRegistryConformance,
  describeSinkConformance,
  describeStorageConformance,
} from '@sluice/conformance'
import pg from 'pg'
import { afterAll } from 'vitest'
import { postgresUrl, storeFactories } from '../test/support.js'

// Every conformance suite against a real PostgreSQL server. Each test's stores use a schema derived
// from its namespace (a second store in the same test shares it); the schemas are dropped at the
// end. The store takes the suite's clock for the times it stamps and compares nothing with the
// database clock, so the suites run on manual time.
const admin = new pg.Pool({ connectionString: postgresUrl, max: 2 })
const query = (sql: string, params?: unknown[]) => admin.query(sql, params)
const stores = storeFactories({ url: postgresUrl, poolSize: 4, applicationName: 'sluice-conformance' })
afterAll(async () => {
  await stores.dropSchemas(query)
  await admin.end()
})

const shared = { durable: true, sharedAcrossInstances: true }

const registry = stores.port((store) => store.registry)
describeRegistryConformance('postgres', registry.factory, {}, { close: registry.close })

const storage = stores.port((store) => store.storage)
describeStorageConformance('postgres', storage.factory, shared, { close: storage.close })

const jobQueue = stores.port((store) => store.jobQueue)
describeJobQueueConformance('postgres', jobQueue.factory, shared, { close: jobQueue.close })

const logSink = stores.port((store) => store.logSink)
describeLogSinkConformance('postgres', logSink.factory, {}, { close: logSink.close })

const metrics = stores.port((store) => store.metricsSink)
describeMetricsSinkConformance('postgres', metrics.factory, {}, { close: metrics.close })

const deadLetters = stores.port((store) => store.deadLetters)
describeDeadLetterConformance('postgres', deadLetters.factory, {}, { close: deadLetters.close })

const bus = stores.port((store) => store.bus)
describeBusConformance('postgres', bus.factory, { sharedAcrossInstances: true }, { close: bus.close })

const sink = stores.sink(query)
describeSinkConformance('postgres', sink.factory, {}, { close: sink.close })
