import { createMemoryQueue } from '@sluice/memory'
import { describe, expect, it } from 'vitest'
import { createDrainableQueue } from './drain.js'

describe('createDrainableQueue', () => {
  it('drains once every record produced to its topic was handled, redeliveries included', async () => {
    const queue = createDrainableQueue(createMemoryQueue({ redeliveryDelayMs: 5 }), 'events')
    await queue.drain()
    const handled: string[] = []
    let failures = 1
    await queue.consume('events', { group: 'g', maxBatchSize: 1 }, async ([message]) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (message?.value === 'b' && failures-- > 0) throw new Error('retry me')
      handled.push(message?.value ?? '')
    })
    await queue.produce('events', [
      { key: 'k', value: 'a' },
      { key: 'k', value: 'b' },
      { key: 'k', value: 'c' },
    ])
    await queue.produce('other', [{ key: null, value: 'not counted' }])
    let drained = false
    const draining = queue.drain().then(() => {
      drained = true
    })
    expect(drained).toBe(false)
    await draining
    expect(handled).toEqual(['a', 'b', 'c'])
    await queue.close()
  })
})
