import pg from 'pg'
import { afterAll } from 'vitest'
import { describeStoreConformance, postgresUrl, storeFactories } from '../test/support.js'

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

describeStoreConformance('postgres', stores, query)
