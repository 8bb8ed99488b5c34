import type { Bus, BusCapabilities } from '@sluice/core'
import { type Connection, openConnection, openSubscriber, type RedisConnectionOptions } from './connection.js'
import { toPortError } from './errors.js'

/** What the Redis bus guarantees: messages reach subscribers in every process on the same Redis. */
export const redisBusCapabilities: BusCapabilities = Object.freeze({ sharedAcrossInstances: true })

/** Options of {@link createRedisBus}. */
export interface RedisBusOptions extends RedisConnectionOptions {
  /**
   * Called when a subscriber's handler throws. The bus is at-most-once, so the message is not
   * redelivered; the publisher never sees the error.
   * @default reports the error with `console.error`
   */
  onHandlerError?: (error: unknown, channel: string) => void
}

/** A {@link Bus} over Redis, with a way to let go of its connections. */
export interface RedisBus extends Bus {
  /** Stops every subscription and closes the connections the bus opened. */
  close(): Promise<void>
}

interface Subscription {
  handler: (message: string) => void
  /** Set once Redis acknowledged the SUBSCRIBE: earlier messages on the channel predate it. */
  active: boolean
}

const reportHandlerError = (error: unknown, channel: string) => {
  console.error(`[sluice:bus] a subscriber of ${channel} threw; the message is dropped for it`, error)
}

/**
 * Creates a {@link Bus} over Redis PUBLISH/SUBSCRIBE. Subscriptions share one dedicated connection
 * (a subscribed connection can run nothing else) that ioredis re-subscribes after a reconnect;
 * messages published while it is disconnected are lost, as the port allows.
 * @example
 * const bus = createRedisBus({ url: process.env.REDIS_URL })
 * const stop = await bus.subscribe('config-changed', (id) => reload(id))
 * await bus.publish('config-changed', '42')
 */
export function createRedisBus(options: RedisBusOptions = {}): RedisBus {
  const connection = openConnection(options)
  const bus = busOver(connection, options)
  return {
    ...bus,
    async close() {
      await bus.close()
      await connection.close()
    },
  }
}

/**
 * The bus over a command connection someone else may share (see `createRedisStores`); it opens
 * its own subscriber connection, which its `close()` closes.
 */
export function busOver(
  connection: Connection,
  options: Pick<RedisBusOptions, 'onHandlerError'> = {},
): RedisBus {
  const { client: publisher, prefix, endpoint } = connection
  const onHandlerError = options.onHandlerError ?? reportHandlerError
  const channels = new Map<string, Set<Subscription>>()
  let subscriber: Connection | undefined

  const listen = (): Connection => {
    if (subscriber) return subscriber
    const opened = openSubscriber(connection)
    opened.client.on('message', (channel: string, message: string) => {
      const subscriptions = channels.get(channel)
      if (!subscriptions) return
      for (const subscription of [...subscriptions]) {
        if (!subscription.active) continue
        try {
          subscription.handler(message)
        } catch (error) {
          onHandlerError(error, channel.slice(prefix.length))
        }
      }
    })
    subscriber = opened
    return opened
  }

  return {
    capabilities: redisBusCapabilities,

    async publish(channel, message) {
      try {
        await publisher.publish(prefix + channel, message)
      } catch (error) {
        throw toPortError(error, 'bus', { operation: `publish ${channel}`, endpoint })
      }
    },

    async subscribe(channel, handler) {
      const { client } = listen()
      const full = prefix + channel
      const subscription: Subscription = { handler, active: false }
      let subscriptions = channels.get(full)
      if (!subscriptions) {
        subscriptions = new Set()
        channels.set(full, subscriptions)
      }
      subscriptions.add(subscription)
      const stop = async () => {
        subscription.active = false
        const current = channels.get(full)
        if (!current?.delete(subscription) || current.size > 0) return
        channels.delete(full)
        // Issued in the same tick as the map change, so SUBSCRIBE/UNSUBSCRIBE reach Redis in the
        // order the map changed and the last one wins.
        await client.unsubscribe(full).catch((error: unknown) => {
          throw toPortError(error, 'bus', { operation: `unsubscribe ${channel}`, endpoint })
        })
      }
      try {
        // SUBSCRIBE is idempotent; every new handler waits for its own acknowledgement.
        await client.subscribe(full)
      } catch (error) {
        await stop().catch(() => {})
        throw toPortError(error, 'bus', { operation: `subscribe ${channel}`, endpoint })
      }
      subscription.active = true
      return stop
    },

    async close() {
      channels.clear()
      await subscriber?.close()
      subscriber = undefined
    },
  }
}
