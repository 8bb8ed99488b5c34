import ivm from 'isolated-vm'
import { describe, expect, it } from 'vitest'
import { createIsolate, semiSpaceMb } from './plugin-isolate.js'

/** Heap size after keeping ~8 MB of young objects alive while allocating more, as batches in flight do. */
async function heapUnderBatches(isolate: ivm.Isolate): Promise<number> {
  try {
    const context = await isolate.createContext()
    await context.eval(`
      const inFlight = []
      for (let batch = 0; batch < 40; batch++) {
        const events = []
        for (let i = 0; i < 20000; i++) events.push({ i, text: 'event-' + i })
        inFlight.push(events)
        if (inFlight.length > 3) inFlight.shift()
      }`)
    return (await isolate.getHeapStatistics()).total_heap_size
  } finally {
    isolate.dispose()
  }
}

describe('createIsolate', () => {
  it('sizes the young generation from the memory limit, within 1 to 16 MB', () => {
    expect(semiSpaceMb(128)).toBe(8)
    expect(semiSpaceMb(16)).toBe(1)
    expect(semiSpaceMb(8)).toBe(1)
    expect(semiSpaceMb(4096)).toBe(16)
  })

  it("gives its isolate a larger young generation than isolated-vm's, and no other isolate", async () => {
    const raised = await heapUnderBatches(createIsolate(128))
    const plain = await heapUnderBatches(new ivm.Isolate({ memoryLimit: 128 }))
    // The raised young generation holds the batches in flight: its heap is larger by semi-spaces.
    expect(raised - plain).toBeGreaterThan(8 * 1024 * 1024)
  })
})
