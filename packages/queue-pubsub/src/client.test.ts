import { PubSub } from '@google-cloud/pubsub'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, invalidResourceName } from './client.js'

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
