import { describeSinkConformance, type SinkUnderTest } from '@sluice/conformance'
import type { ProcessedPluginEvent } from '@sluice/core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  createPubSubSink,
  SEQUENCE_ATTRIBUTE,
  TEAM_ATTRIBUTE,
  UUID_ATTRIBUTE,
  WRITER_ATTRIBUTE,
} from './sink.js'
import {
  emulatorClient,
  emulatorHost,
  openReader,
  projectId,
  type Reader,
  waitUntil,
} from './test-support.js'

const client = emulatorClient()
const readers = new WeakMap<SinkUnderTest, Reader>()

afterAll(() => client.close())

/**
 * Pub/Sub keeps order only per ordering key, so the destination's order is rebuilt from the
 * position the sink stamps on every message (`sluice-seq`); the per-key order of delivery itself is
 * checked below.
 */
const inWriteOrder = (reader: Reader): ProcessedPluginEvent[] =>
  [...reader.messages]
    .sort((a, b) => Number(a.attributes[SEQUENCE_ATTRIBUTE]) - Number(b.attributes[SEQUENCE_ATTRIBUTE]))
    .map((message) => JSON.parse(message.data.toString('utf8')) as ProcessedPluginEvent)

describeSinkConformance(
  'pubsub',
  async ({ namespace }) => {
    const topic = `${namespace}sink`
    const reader = await openReader(client, topic)
    const target: SinkUnderTest = {
      sink: createPubSubSink({ projectId, apiEndpoint: emulatorHost, topic }),
      read: async () => inWriteOrder(reader),
    }
    readers.set(target, reader)
    return target
  },
  {},
  {
    time: 'real',
    close: async (target) => {
      await target.sink.close()
      await readers.get(target)?.close()
    },
  },
)

describe('createPubSubSink against the emulator', { timeout: 60_000 }, () => {
  const namespace = `s${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}-`

  const event = (i: number, person: number): ProcessedPluginEvent => ({
    uuid: crypto.randomUUID(),
    distinct_id: `person-${person}`,
    ip: null,
    team_id: 7,
    event: 'step',
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(),
    properties: { i },
  })

  it("delivers each person's events in write order under ordering key <team_id>:<distinct_id>", async () => {
    const topic = `${namespace}order`
    const reader = await openReader(client, topic)
    const sink = createPubSubSink({ projectId, apiEndpoint: emulatorHost, topic })
    const events = Array.from({ length: 400 }, (_, i) => event(i, i % 4))
    for (let i = 0; i < events.length; i += 50) await sink.write(events.slice(i, i + 50))
    await waitUntil(
      () => reader.messages.length >= events.length,
      () => `${events.length} messages, got ${reader.messages.length}`,
    )
    for (let person = 0; person < 4; person++) {
      const delivered = reader.messages
        .filter((message) => message.orderingKey === `7:person-${person}`)
        .map((message) => (JSON.parse(message.data.toString('utf8')) as ProcessedPluginEvent).uuid)
      expect(delivered).toEqual(events.filter((e) => e.distinct_id === `person-${person}`).map((e) => e.uuid))
    }
    const first = reader.messages.find((message) => message.attributes[SEQUENCE_ATTRIBUTE] === '0')
    expect(first?.attributes[UUID_ATTRIBUTE]).toBe(events[0]?.uuid)
    expect(first?.attributes[TEAM_ATTRIBUTE]).toBe('7')
    expect(first?.attributes.event).toBe('step')
    expect(new Set(reader.messages.map((message) => message.attributes[WRITER_ATTRIBUTE])).size).toBe(1)
    await sink.close()
    await reader.close()
  })

  it('reports a missing topic as a non-retryable not-found SinkError when it may not create topics', async () => {
    const sink = createPubSubSink({
      projectId,
      apiEndpoint: emulatorHost,
      topic: `${namespace}missing`,
      createMissing: false,
    })
    await expect(sink.write([event(0, 0)])).rejects.toMatchObject({
      name: 'SinkError',
      code: 'sink.not-found',
      retryable: false,
      message: expect.stringContaining(`topic '${namespace}missing'`),
    })
    await sink.close()
  })
})
