import type { ProcessedPluginEvent } from '@sluice/core'
import { SinkError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createPubSubSink } from './sink.js'
import { refusing, unreachable } from './test-support.js'

const event: ProcessedPluginEvent = {
  uuid: '0190a1b2-0000-7000-8000-000000000001',
  distinct_id: 'u',
  ip: null,
  team_id: 1,
  event: 'e',
  timestamp: '2026-01-01T00:00:00.000Z',
  properties: {},
}

describe('createPubSubSink without a service', () => {
  it('is named after its topic unless told otherwise', async () => {
    const sink = createPubSubSink({ ...unreachable, topic: 'events_out' })
    expect(sink.name).toBe('pubsub:events_out')
    await sink.close()
    const named = createPubSubSink({ ...unreachable, topic: 'events_out', name: 'exports' })
    expect(named.name).toBe('exports')
    await named.close()
  })

  it('rejects a topic that is not a Pub/Sub name', () => {
    expect(() => createPubSubSink({ ...unreachable, topic: 'x' })).toThrow(SinkError)
    expect(() => createPubSubSink({ ...unreachable, topic: 'x' })).toThrow(/not a valid Pub\/Sub name/)
  })

  it('treats an empty write as a no-op and refuses events that are not JSON, without the service', async () => {
    const sink = createPubSubSink({ ...unreachable, topic: 'events_out' })
    await expect(sink.write([])).resolves.toBeUndefined()
    await expect(sink.write([{ ...event, properties: { n: 1n } }])).rejects.toMatchObject({
      code: 'sink.invalid',
      retryable: false,
      message: expect.stringContaining('cannot serialize event 0 as JSON'),
    })
    await sink.close()
  })

  it('reports an unreachable emulator as a retryable SinkError that says what to check', async () => {
    const sink = createPubSubSink({ ...refusing, topic: 'events_out' })
    await expect(sink.write([event])).rejects.toMatchObject({
      name: 'SinkError',
      code: 'sink.unavailable',
      retryable: true,
      message: expect.stringMatching(
        /cannot create topic 'events_out' for sink 'pubsub:events_out': .*is the Pub\/Sub emulator running at 127\.0\.0\.1:1\?/,
      ),
    })
    await sink.close()
  }, 20_000)

  it('refuses writes after close', async () => {
    const sink = createPubSubSink({ ...unreachable, topic: 'events_out' })
    await sink.close()
    await expect(sink.write([event])).rejects.toMatchObject({ code: 'sink.closed', retryable: false })
  })
})
