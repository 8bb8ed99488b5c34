import { type Bus, type BusCapabilities, BusError } from '@sluice/core'

/** What the memory bus guarantees: messages reach subscribers in this process only. */
export const memoryBusCapabilities: BusCapabilities = Object.freeze({ sharedAcrossInstances: false })

/**
 * The subscriptions behind one or more memory buses. A message published on any bus over the
 * store reaches subscribers on all of them; tests use it to stand in for a cluster-wide bus.
 * Opaque: only {@link createMemoryBus} reads it.
 */
export interface MemoryBusStore {
  /** Identifies the object as a store; its data is not reachable through it. */
  readonly kind: 'memory-bus-store'
}

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions {
  /**
   * Shares subscriptions with other memory buses created over the same store.
   * @default a new store private to this bus
   */
  store?: MemoryBusStore
  /**
   * Called when a subscriber's handler throws. The bus is at-most-once, so the message is not
   * redelivered; the publisher never sees the error.
   * @default reports the error with `console.error`
   */
  onHandlerError?: (error: unknown, channel: string) => void
}

interface Subscription {
  handler: (message: string) => void
  active: boolean
}

const storeData = new WeakMap<MemoryBusStore, Map<string, Set<Subscription>>>()

/** Creates the shared subscriptions for memory buses that should reach each other. */
export function createMemoryBusStore(): MemoryBusStore {
  const store: MemoryBusStore = Object.freeze({ kind: 'memory-bus-store' })
  storeData.set(store, new Map())
  return store
}

const reportHandlerError = (error: unknown, channel: string) => {
  console.error(`[sluice:bus] a subscriber of ${channel} threw; the message is dropped for it`, error)
}

/**
 * Creates a {@link Bus} in process memory. Handlers run asynchronously (never inside `publish`),
 * each subscriber sees a channel's messages in publish order, and a subscription stopped before a
 * message is delivered does not receive it.
 * @example
 * const bus = createMemoryBus()
 * const stop = await bus.subscribe('config-changed', (id) => reload(id))
 * await bus.publish('config-changed', '42')
 */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const store = options.store ?? createMemoryBusStore()
  const channels = storeData.get(store)
  if (!channels) {
    throw new BusError(
      'the `store` option is not a memory bus store — create one with createMemoryBusStore()',
      {
        retryable: false,
        code: 'bus.invalid_store',
      },
    )
  }
  const onHandlerError = options.onHandlerError ?? reportHandlerError

  return {
    capabilities: memoryBusCapabilities,

    async publish(channel, message) {
      const subscriptions = channels.get(channel)
      if (!subscriptions) return
      for (const subscription of [...subscriptions]) {
        queueMicrotask(() => {
          if (!subscription.active) return
          try {
            subscription.handler(message)
          } catch (error) {
            onHandlerError(error, channel)
          }
        })
      }
    },

    async subscribe(channel, handler) {
      const subscription: Subscription = { handler, active: true }
      let subscriptions = channels.get(channel)
      if (!subscriptions) {
        subscriptions = new Set()
        channels.set(channel, subscriptions)
      }
      subscriptions.add(subscription)
      return async () => {
        subscription.active = false
        const current = channels.get(channel)
        if (!current) return
        current.delete(subscription)
        if (current.size === 0) channels.delete(channel)
      }
    },
  }
}
