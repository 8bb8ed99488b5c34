import { describeBusConformance } from '@sluice/conformance'
import { describe, expect, it, vi } from 'vitest'
import { createMemoryBus, createMemoryBusStore, memoryBusCapabilities } from './bus.js'

describeBusConformance('memory', () => createMemoryBus(), memoryBusCapabilities)

// Buses over one store reach each other like processes on one cluster bus, so the
// shared-instance cases run here too. The suite namespaces its channels.
const sharedStore = createMemoryBusStore()
describeBusConformance('memory over a shared store', () => createMemoryBus({ store: sharedStore }), {
  ...memoryBusCapabilities,
  sharedAcrossInstances: true,
})

const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('createMemoryBus', () => {
  it('declares that it reaches this process only', () => {
    expect(createMemoryBus().capabilities).toEqual({ sharedAcrossInstances: false })
  })

  it('buses without a shared store do not reach each other', async () => {
    const handler = vi.fn()
    await createMemoryBus().subscribe('c', handler)
    await createMemoryBus().publish('c', 'm')
    await settle()
    expect(handler).not.toHaveBeenCalled()
  })

  it('never runs handlers inside publish', async () => {
    const bus = createMemoryBus()
    const handler = vi.fn()
    await bus.subscribe('c', handler)
    const published = bus.publish('c', 'm')
    expect(handler).not.toHaveBeenCalled()
    await published
    await settle()
    expect(handler).toHaveBeenCalledWith('m')
  })

  it('a throwing handler is reported and does not stop delivery to others or fail publish', async () => {
    const onHandlerError = vi.fn()
    const bus = createMemoryBus({ onHandlerError })
    const boom = new Error('boom')
    await bus.subscribe('c', () => {
      throw boom
    })
    const healthy = vi.fn()
    await bus.subscribe('c', healthy)
    await expect(bus.publish('c', 'm')).resolves.toBeUndefined()
    await settle()
    expect(onHandlerError).toHaveBeenCalledWith(boom, 'c')
    expect(healthy).toHaveBeenCalledWith('m')
  })

  it('a message published before unsubscribe but not yet delivered is not delivered', async () => {
    const bus = createMemoryBus()
    const handler = vi.fn()
    const unsubscribe = await bus.subscribe('c', handler)
    const published = bus.publish('c', 'm')
    await unsubscribe()
    await published
    await settle()
    expect(handler).not.toHaveBeenCalled()
  })

  it('unsubscribe is idempotent', async () => {
    const bus = createMemoryBus()
    const unsubscribe = await bus.subscribe('c', vi.fn())
    await unsubscribe()
    await expect(unsubscribe()).resolves.toBeUndefined()
  })
})
