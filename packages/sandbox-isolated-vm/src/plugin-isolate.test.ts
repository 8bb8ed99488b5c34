import ivm from 'isolated-vm'
import { describe, expect, it } from 'vitest'
import { createIsolate, semiSpaceMb } from './plugin-isolate.js'

describe('createIsolate', () => {
  it('sizes the young generation from the memory limit, within 1 to 16 MB', () => {
    expect(semiSpaceMb(128)).toBe(8)
    expect(semiSpaceMb(16)).toBe(1)
    expect(semiSpaceMb(8)).toBe(1)
    expect(semiSpaceMb(4096)).toBe(16)
  })

  it("gives its isolate a larger young generation than isolated-vm's, and no other isolate", () => {
    // V8 counts the young generation's maximum (two semi-spaces and a large-object space of the same
    // size) in the heap limit, a setting rather than a measure, so this does not hang on GC timing.
    const limitOf = (isolate: ivm.Isolate) => {
      try {
        return isolate.getHeapStatisticsSync().heap_size_limit
      } finally {
        isolate.dispose()
      }
    }
    const raised = limitOf(createIsolate(128))
    const plain = limitOf(new ivm.Isolate({ memoryLimit: 128 }))
    // 8 MB semi-spaces instead of isolated-vm's 1 MB: 3 × 7 MB more.
    expect(raised - plain).toBeGreaterThan(3 * 6 * 1024 * 1024)
    expect(limitOf(new ivm.Isolate({ memoryLimit: 128 }))).toBe(plain)
  })
})
