import { afterEach, describe, expect, it } from 'vitest'
import { createStack, pluginSource } from '../test/stack.js'
import { createIsolatedVmSandbox } from './index.js'

const MiB = 1024 * 1024
const sandboxes: Array<{ close(): Promise<void> }> = []

afterEach(async () => {
  for (const sandbox of sandboxes.splice(0)) await sandbox.close()
})

// Keeps `megabytes` of doubles (8 bytes each in a packed array) in meta.global, on the isolate's heap.
const HOARDER = `export function runEveryMinute(meta) {
  meta.global.kept = Array.from({ length: meta.config.megabytes * 131072 }, Math.random)
}
export function runEveryHour() { for (;;) {} }`

describe('memoryUsage', () => {
  it('reports each loaded plugin version’s isolates, heap in use and heap limit', async () => {
    const sandbox = createIsolatedVmSandbox({ memoryLimitMb: 64, contextsPerIsolate: 2 })
    sandboxes.push(sandbox)
    const stack = createStack()
    const loaded = await sandbox.load(pluginSource({ 'index.js': HOARDER }, { name: 'hoarder', pluginId: 7 }))
    const instances = await Promise.all(
      [1, 2, 3].map(() =>
        loaded.instantiate(stack.hostFor(loaded, 'hoarder', { pluginId: 7, config: { megabytes: 16 } })),
      ),
    )
    const [before] = await sandbox.memoryUsage()
    expect(before).toMatchObject({
      pluginId: 7,
      name: 'hoarder',
      version: '1',
      sandboxes: 2,
      limitBytes: 128 * MiB,
    })
    await instances[0]?.call('runEveryMinute', [])
    const [after] = await sandbox.memoryUsage()
    // 16 MiB kept; less whatever garbage of `before` a collection freed meanwhile (all of it was ~1 MiB).
    expect((after?.usedBytes ?? 0) - (before?.usedBytes ?? 0)).toBeGreaterThan(12 * MiB)
    await loaded.dispose()
    expect(await sandbox.memoryUsage()).toEqual([])
  })

  it('answers while plugin code keeps its isolate busy, with the last reading', async () => {
    const sandbox = createIsolatedVmSandbox({ callTimeoutMs: 3_000 })
    sandboxes.push(sandbox)
    const loaded = await sandbox.load(pluginSource({ 'index.js': HOARDER }))
    const instance = await loaded.instantiate(
      createStack().hostFor(loaded, 'test-plugin', { config: { megabytes: 1 } }),
    )
    const [idle] = await sandbox.memoryUsage()
    const looping = instance.call('runEveryHour', []).catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The loop holds the isolate for its 3 s limit; the reading must not wait for it.
    const reading = sandbox.memoryUsage()
    const first = await Promise.race([reading.then(() => 'reading'), looping.then(() => 'loop')])
    expect(first).toBe('reading')
    expect((await reading)[0]?.usedBytes).toBe(idle?.usedBytes)
    await looping
  })
})
