import { describeDeadLetterConformance } from '@sluice/conformance'
import { createManualClock, DeadLetterError, type NewDeadLetter } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryDeadLetterStore } from './dead-letter.js'

describeDeadLetterConformance('memory', ({ time }) => createMemoryDeadLetterStore({ clock: time.clock }), {})

const entry: NewDeadLetter = { source: 'sink', reason: 'r', payload: 'p', teamId: 1, configId: null }

describe('createMemoryDeadLetterStore', () => {
  it('stamps createdAt from the injected clock', async () => {
    const clock = createManualClock(1_000)
    const store = createMemoryDeadLetterStore({ clock })
    const [first] = (await store.put([entry])) as [string]
    clock.advance(500)
    const [second] = (await store.put([entry])) as [string]
    expect((await store.get(first))?.createdAt).toBe(1_000)
    expect((await store.get(second))?.createdAt).toBe(1_500)
  })

  it('hands out copies: changing a listed entry changes nothing held', async () => {
    const store = createMemoryDeadLetterStore()
    const [id] = (await store.put([entry])) as [string]
    const [listed] = await store.list()
    if (listed) listed.reason = 'changed'
    expect((await store.get(id))?.reason).toBe('r')
  })

  it('rejects invalid entries and limits with a DeadLetterError, storing nothing', async () => {
    const store = createMemoryDeadLetterStore()
    await expect(
      store.put([entry, { ...entry, source: 'elsewhere' as NewDeadLetter['source'] }]),
    ).rejects.toBeInstanceOf(DeadLetterError)
    await expect(store.put([{ ...entry, payload: undefined as unknown as string }])).rejects.toMatchObject({
      code: 'dead-letter.invalid',
      retryable: false,
    })
    await expect(store.list({ limit: -1 })).rejects.toThrow(/limit/)
    expect(await store.list()).toEqual([])
  })
})
