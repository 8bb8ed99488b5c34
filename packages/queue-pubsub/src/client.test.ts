import { PubSub, type Topic } from '@google-cloud/pubsub'
import { afterEach, describe, expect, it } from 'vitest'
import { type Connection, connect, ensureSubscription, ensureTopic, invalidResourceName } from './client.js'

const invalid = (message: string) => new Error(message)
const saved = { host: process.env.PUBSUB_EMULATOR_HOST, project: process.env.PUBSUB_PROJECT_ID }

afterEach(() => {
  for (const [name, value] of [
    ['PUBSUB_EMULATOR_HOST', saved.host],
    ['PUBSUB_PROJECT_ID', saved.project],
  ] as const) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
})

describe('connect', () => {
  it('talks to the emulator named by PUBSUB_EMULATOR_HOST, or by apiEndpoint over it', async () => {
    process.env.PUBSUB_EMULATOR_HOST = '127.0.0.1:8085'
    const fromEnv = connect({ projectId: 'p' }, invalid)
    expect(fromEnv.endpoint).toEqual({
      address: '127.0.0.1:8085',
      emulator: true,
      source: 'PUBSUB_EMULATOR_HOST',
    })
    expect(fromEnv.owned).toBe(true)
    const explicit = connect({ projectId: 'p', apiEndpoint: 'http://localhost:9999/' }, invalid)
    expect(explicit.endpoint).toEqual({ address: 'localhost:9999', emulator: true, source: 'apiEndpoint' })
    await Promise.all([fromEnv.pubsub.close(), explicit.pubsub.close()])
  })

  it('talks to Google Cloud without an emulator', async () => {
    delete process.env.PUBSUB_EMULATOR_HOST
    const connection = connect({ projectId: 'p' }, invalid)
    expect(connection.endpoint).toEqual({
      address: 'pubsub.googleapis.com:443',
      emulator: false,
      source: 'default',
    })
    expect(connection.pubsub.isEmulator).toBe(false)
    await connection.pubsub.close()
  })

  it('needs a project id with the emulator', () => {
    delete process.env.PUBSUB_PROJECT_ID
    expect(() => connect({ apiEndpoint: '127.0.0.1:8085' }, invalid)).toThrow(
      /projectId is required with the Pub\/Sub emulator at 127\.0\.0\.1:8085/,
    )
    process.env.PUBSUB_PROJECT_ID = 'from-env'
    expect(connect({ apiEndpoint: '127.0.0.1:8085' }, invalid).pubsub.projectId).toBe('from-env')
  })

  it('uses a given client without owning it', async () => {
    const pubsub = new PubSub({ projectId: 'p', apiEndpoint: '127.0.0.1:8085' })
    const connection = connect({ pubsub }, invalid)
    expect(connection.owned).toBe(false)
    expect(connection.pubsub).toBe(pubsub)
    expect(connection.endpoint).toMatchObject({
      address: '127.0.0.1:8085',
      emulator: true,
      source: 'apiEndpoint',
    })
    await pubsub.close()
  })

  it('checks retention and timeout', () => {
    expect(() => connect({ projectId: 'p', topicRetentionSeconds: 60 }, invalid)).toThrow(
      /topicRetentionSeconds/,
    )
    expect(() => connect({ projectId: 'p', topicRetentionSeconds: 40 * 86_400 }, invalid)).toThrow(/31 days/)
    expect(connect({ projectId: 'p', topicRetentionSeconds: 0 }, invalid).topicRetentionSeconds).toBe(0)
    expect(() => connect({ projectId: 'p', timeoutMs: 0 }, invalid)).toThrow(/timeoutMs/)
  })
})

describe('invalidResourceName', () => {
  it('accepts Pub/Sub ids', () => {
    for (const name of ['abc', 'events_out', 't1732abc-1-topic', 'a.b~c+d%e', 'x'.repeat(255)]) {
      expect(invalidResourceName(name), name).toBeUndefined()
    }
  })

  it('explains what a Pub/Sub id must look like', () => {
    for (const name of ['ab', '1abc', 'has space', 'google-x', 'x'.repeat(256), 'a/b']) {
      expect(invalidResourceName(name), name).toMatch(/3–255 characters, starting with a letter/)
    }
    expect(invalidResourceName('')).toMatch(/non-empty string/)
    expect(invalidResourceName(7)).toMatch(/non-empty string, got 7/)
  })
})

/** A gRPC failure as the client reports it. */
const status = (code: number) => Object.assign(new Error(`${code} failure`), { code })

/** A connection over a stand-in client whose calls do what `calls` says. */
function fakeConnection(
  calls: {
    createTopic?: () => Promise<unknown>
    createSubscription?: () => Promise<unknown>
    getMetadata?: () => Promise<unknown>
    seek?: () => Promise<unknown>
  },
  overrides: Partial<Connection> = {},
) {
  const log: string[] = []
  const record =
    (name: string, call: (() => Promise<unknown>) | undefined) =>
    async (...args: unknown[]) => {
      const [first, second] = args
      const options = name === 'createSubscription' ? ` ${JSON.stringify(second)}` : ''
      log.push(`${name} ${JSON.stringify(first instanceof Date ? 'date' : first)}${options}`)
      return call ? call() : [{}]
    }
  const subscription = {
    getMetadata: record('getMetadata', calls.getMetadata),
    seek: record('seek', calls.seek),
  }
  const pubsub = { createTopic: record('createTopic', calls.createTopic), subscription: () => subscription }
  const topic = {
    name: 'projects/p/topics/events',
    createSubscription: record('createSubscription', calls.createSubscription),
  }
  const connection: Connection = {
    pubsub: pubsub as unknown as PubSub,
    endpoint: { address: 'pubsub.googleapis.com:443', emulator: false, source: 'default' },
    owned: true,
    createMissing: true,
    topicRetentionSeconds: 86_400,
    timeoutMs: 1_000,
    ...overrides,
  }
  return { connection, topic: topic as unknown as Topic, log }
}

const settings = { ackDeadlineSeconds: 60, extra: { retryPolicy: { minimumBackoff: { seconds: 1 } } } }
const mismatch = (message: string) => new Error(message)

describe('ensureTopic', () => {
  it('creates the topic with the retention, and takes an existing one or a refused create as there', async () => {
    const made = fakeConnection({})
    await ensureTopic(made.connection, 'events')
    expect(made.log).toEqual(['createTopic {"name":"events","messageRetentionDuration":{"seconds":86400}}'])
    await ensureTopic(fakeConnection({ createTopic: () => Promise.reject(status(6)) }).connection, 'events')
    await ensureTopic(fakeConnection({ createTopic: () => Promise.reject(status(7)) }).connection, 'events')
    await expect(
      ensureTopic(fakeConnection({ createTopic: () => Promise.reject(status(14)) }).connection, 'events'),
    ).rejects.toMatchObject({ code: 14 })
  })

  it('creates nothing without createMissing, and no retention when it is 0', async () => {
    const off = fakeConnection({}, { createMissing: false })
    await ensureTopic(off.connection, 'events')
    expect(off.log).toEqual([])
    const plain = fakeConnection({}, { topicRetentionSeconds: 0 })
    await ensureTopic(plain.connection, 'events')
    expect(plain.log).toEqual(['createTopic {"name":"events"}'])
  })
})

describe('ensureSubscription', () => {
  it('creates an ordered subscription with the settings and moves it back over the retained messages', async () => {
    const { connection, topic, log } = fakeConnection({})
    await expect(ensureSubscription(connection, topic, 'group', settings, mismatch)).resolves.toEqual({
      created: true,
    })
    expect(log).toEqual([
      'createSubscription "group" {"retryPolicy":{"minimumBackoff":{"seconds":1}},"ackDeadlineSeconds":60,' +
        '"enableMessageOrdering":true,"gaxOpts":{"timeout":1000}}',
      'seek "date"',
    ])
  })

  it('reports a failed seek instead of failing, and expects none from the emulator', async () => {
    const failing = fakeConnection({ seek: () => Promise.reject(status(7)) })
    const result = await ensureSubscription(failing.connection, failing.topic, 'group', settings, mismatch)
    expect(result).toMatchObject({ created: true, rewindError: { code: 7 } })
    const emulator = fakeConnection(
      { seek: () => Promise.reject(status(12)) },
      { endpoint: { address: '127.0.0.1:8085', emulator: true, source: 'PUBSUB_EMULATOR_HOST' } },
    )
    await expect(
      ensureSubscription(emulator.connection, emulator.topic, 'group', settings, mismatch),
    ).resolves.toEqual({
      created: true,
    })
  })

  it('checks that an existing subscription reads this topic, in order', async () => {
    const exists = () => Promise.reject(status(6))
    const good = fakeConnection({
      createSubscription: exists,
      getMetadata: async () => [{ topic: 'projects/p/topics/events', enableMessageOrdering: true }],
    })
    await expect(
      ensureSubscription(good.connection, good.topic, 'group', settings, mismatch),
    ).resolves.toEqual({
      created: false,
    })
    const other = fakeConnection({
      createSubscription: exists,
      getMetadata: async () => [{ topic: 'projects/p/topics/other', enableMessageOrdering: true }],
    })
    await expect(
      ensureSubscription(other.connection, other.topic, 'group', settings, mismatch),
    ).rejects.toThrow(/subscription 'group' belongs to topic projects\/p\/topics\/other/)
    const unordered = fakeConnection({
      createSubscription: exists,
      getMetadata: async () => [{ topic: 'projects/p/topics/events', enableMessageOrdering: false }],
    })
    await expect(
      ensureSubscription(unordered.connection, unordered.topic, 'group', settings, mismatch),
    ).rejects.toThrow(/without message ordering/)
  })

  it('trusts a subscription it may neither create nor read (subscriber role only)', async () => {
    const { connection, topic } = fakeConnection({
      createSubscription: () => Promise.reject(status(7)),
      getMetadata: () => Promise.reject(status(7)),
    })
    await expect(ensureSubscription(connection, topic, 'group', settings, mismatch)).resolves.toEqual({
      created: false,
    })
  })
})
