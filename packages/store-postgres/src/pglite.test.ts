import { PGlite } from '@electric-sql/pglite'
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
import { afterAll } from 'vitest'
import { storeFactories } from '../test/support.js'

// Every conformance suite over embedded PGlite, in the unit pass: PGlite runs in this process, so
// no service is needed. Opening an instance takes seconds, so the whole file shares one, and each
// test gets a schema of its own. Two stores over one instance share data the way two processes
// share a server, so the durable and cross-instance cases run here too (the stores themselves
// report PGlite as neither shared nor, in memory, durable).
const pglite = await PGlite.create()
const stores = storeFactories({ pglite })
const query = (sql: string, params?: unknown[]) => pglite.query<Record<string, unknown>>(sql, params)
afterAll(() => pglite.close())

const shared = { durable: true, sharedAcrossInstances: true }

const registry = stores.port((store) => store.registry)
describeRegistryConformance('pglite', registry.factory, {}, { close: registry.close })

const storage = stores.port((store) => store.storage)
describeStorageConformance('pglite', storage.factory, shared, { close: storage.close })

const jobQueue = stores.port((store) => store.jobQueue)
describeJobQueueConformance('pglite', jobQueue.factory, shared, { close: jobQueue.close })

const logSink = stores.port((store) => store.logSink)
describeLogSinkConformance('pglite', logSink.factory, {}, { close: logSink.close })

const metrics = stores.port((store) => store.metricsSink)
describeMetricsSinkConformance('pglite', metrics.factory, {}, { close: metrics.close })

const deadLetters = stores.port((store) => store.deadLetters)
describeDeadLetterConformance('pglite', deadLetters.factory, {}, { close: deadLetters.close })

const bus = stores.port((store) => store.bus)
describeBusConformance('pglite', bus.factory, { sharedAcrossInstances: true }, { close: bus.close })

const sink = stores.sink(query)
describeSinkConformance('pglite', sink.factory, {}, { close: sink.close })
