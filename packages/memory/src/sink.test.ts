import { describeSinkConformance } from '@sluice/conformance'
import { type ProcessedPluginEvent, SinkError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemorySink } from './sink.js'

describeSinkConformance(
  'memory',
  () => {
    const sink = createMemorySink()
    return { sink, read: async () => sink.events() }
  },
  {},
  { close: ({ sink }) => sink.close() },
)

const event: ProcessedPluginEvent = {
  uuid: '0190a1b2-0000-7000-8000-000000000001',
  distinct_id: 'u',
  ip: null,
  team_id: 1,
  event: 'e',
  timestamp: '2026-01-01T00:00:00.000Z',
  properties: { a: { b: 1 } },
}

describe('createMemorySink', () => {
  it('is named memory unless told otherwise', () => {
    expect(createMemorySink().name).toBe('memory')
    expect(createMemorySink({ name: 'memory:out' }).name).toBe('memory:out')
  })

  it('keeps copies: changing a written or read event changes nothing held', async () => {
    const sink = createMemorySink()
    const written = structuredClone(event)
    await sink.write([written])
    ;(written.properties.a as { b: number }).b = 2
    const read = sink.events()
    ;(read[0]?.properties.a as { b: number }).b = 3
    expect(sink.events()).toEqual([event])
  })

  it('rejects writes after close and values that are not data', async () => {
    const sink = createMemorySink()
    await expect(sink.write([{ ...event, properties: { f: () => 1 } }])).rejects.toMatchObject({
      code: 'sink.invalid',
    })
    await sink.close()
    await expect(sink.write([event])).rejects.toBeInstanceOf(SinkError)
  })
})
