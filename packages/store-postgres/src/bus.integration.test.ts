import { BusError, type SluiceError } from '@sluice/core'
import pg from 'pg'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { postgresUrl } from '../test/support.js'
import { MAX_BUS_MESSAGE_BYTES } from './bus.js'
import { createPostgresStore, type PostgresStore } from './index.js'

const admin = new pg.Pool({ connectionString: postgresUrl, max: 1 })
const run = Math.random().toString(36).slice(2, 8)
let counter = 0
let schema: string
let applicationName: string
let store: PostgresStore
let other: PostgresStore
const backgroundErrors: SluiceError[] = []

beforeEach(async () => {
  counter += 1
  schema = `sluice_bus_${run}_${counter}`
  applicationName = `sluice-bus-test-${run}-${counter}`
  store = await createPostgresStore({
    url: postgresUrl,
    schema,
    applicationName,
    onError: (error) => backgroundErrors.push(error),
  })
  other = await createPostgresStore({ url: postgresUrl, schema, applicationName: `${applicationName}-other` })
})
afterEach(async () => {
  await store.close()
  await other.close()
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
})
afterAll(() => admin.end())

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const busBackends = async () =>
  (
    await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
      `${applicationName}:bus`,
    ])
  ).rows.map((row) => row.pid)

describe('the bus over LISTEN/NOTIFY', { timeout: 30_000 }, () => {
  it('listens on one dedicated connection, whatever the number of channels and subscribers', async () => {
    expect(await busBackends()).toEqual([])
    const received: string[] = []
    for (const channel of ['a', 'b', 'c']) {
      await store.bus.subscribe(channel, (message) => received.push(`${channel}:${message}`))
      await store.bus.subscribe(channel, (message) => received.push(`${channel}:${message}`))
    }
    expect(await busBackends()).toHaveLength(1)
    await other.bus.publish('b', 'x')
    await until('both deliveries', () => received.length >= 2)
    expect(received).toEqual(['b:x', 'b:x'])
  })

  it('reconnects after its connection is killed and listens to every channel again', async () => {
    const received: string[] = []
    await store.bus.subscribe('config-changed', (message) => received.push(message))
    await store.bus.subscribe('reload', (message) => received.push(`reload ${message}`))
    const [killed] = await busBackends()
    expect(killed).toBeDefined()
    await admin.query('SELECT pg_terminate_backend($1)', [killed])

    // Notices published while the bus reconnects are lost (the port allows it): publish until one lands.
    await until('a delivery after the reconnect', async () => {
      await other.bus.publish('config-changed', 'after')
      return received.includes('after')
    })
    const [replacement] = await busBackends()
    expect(replacement).toBeDefined()
    expect(replacement).not.toBe(killed)
    await other.bus.publish('reload', 'now')
    await until('the second channel', () => received.includes('reload now'))
    expect(backgroundErrors.some((error) => error.retryable && error.code === 'postgres.unavailable')).toBe(
      true,
    )
  })

  it('keeps channels of different schemas apart on one database', async () => {
    const elsewhere = await createPostgresStore({ url: postgresUrl, schema: `${schema}_x` })
    try {
      const here: string[] = []
      const there: string[] = []
      await store.bus.subscribe('changes', (message) => here.push(message))
      await elsewhere.bus.subscribe('changes', (message) => there.push(message))
      await elsewhere.bus.publish('changes', 'for there')
      await other.bus.publish('changes', 'for here')
      await until('both deliveries', () => here.length >= 1 && there.length >= 1)
      expect(here).toEqual(['for here'])
      expect(there).toEqual(['for there'])
    } finally {
      await elsewhere.close()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}_x" CASCADE`)
    }
  })

  it('carries long channel names and messages up to the notification limit, and refuses larger ones', async () => {
    const channel = `${'very long channel name with spaces and ünïcödé '.repeat(4)}🦔`
    const received: string[] = []
    await store.bus.subscribe(channel, (message) => received.push(message))
    const largest = 'x'.repeat(MAX_BUS_MESSAGE_BYTES)
    await other.bus.publish(channel, largest)
    await until('the large message', () => received.length >= 1)
    expect(received).toEqual([largest])
    const error = await other.bus.publish(channel, `${largest}x`).then(
      () => undefined,
      (rejection: unknown) => rejection,
    )
    expect(error).toBeInstanceOf(BusError)
    expect(error).toMatchObject({ retryable: false, code: 'bus.message_too_large' })
  })
})
