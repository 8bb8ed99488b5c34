import { type ProcessedPluginEvent, SinkError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createKafkaSink, eventKey } from './sink.js'

const event: ProcessedPluginEvent = {
  uuid: '0190a1b2-0000-7000-8000-000000000001',
  distinct_id: 'user-1',
  ip: null,
  team_id: 2,
  event: '$pageview',
  timestamp: '2026-01-01T00:00:00.000Z',
  properties: {},
}

describe('createKafkaSink', () => {
  it('keys events by <team_id>:<distinct_id> and is named after its topic', () => {
    expect(eventKey(event)).toBe('2:user-1')
    expect(createKafkaSink({ brokers: '127.0.0.1:1', topic: 'events_out' }).name).toBe('kafka:events_out')
    expect(createKafkaSink({ brokers: '127.0.0.1:1', topic: 'events_out', name: 'out' }).name).toBe('out')
  })

  it('rejects a bad topic, events that are not JSON data and writes after close', async () => {
    expect(() => createKafkaSink({ brokers: '127.0.0.1:1', topic: '' })).toThrow(SinkError)
    const sink = createKafkaSink({ brokers: '127.0.0.1:1', topic: 'events_out' })
    await expect(sink.write([{ ...event, properties: { n: 1n } }])).rejects.toMatchObject({
      code: 'sink.invalid',
      retryable: false,
    })
    await expect(sink.write([])).resolves.toBeUndefined()
    await sink.close()
    await expect(sink.write([event])).rejects.toMatchObject({ code: 'sink.closed', retryable: false })
  })

  it('fails a write to an unreachable broker with a retryable SinkError', async () => {
    const sink = createKafkaSink({
      brokers: '127.0.0.1:1',
      topic: 'events_out',
      retries: 0,
      connectionTimeoutMs: 500,
      logLevel: 'nothing',
    })
    await expect(sink.write([event])).rejects.toMatchObject({ code: 'sink.unavailable', retryable: true })
    await sink.close()
  })
})
