import { createHash } from 'node:crypto'
import { type Bus, type BusCapabilities, BusError } from '@sluice/core'
import { createGuard, invalidArgument, type StoreContext } from './context.js'
import { MAX_IDENTIFIER_BYTES } from './identifiers.js'

/** NOTIFY refuses payloads of 8000 bytes or more. */
export const MAX_BUS_MESSAGE_BYTES = 7999

const PLAIN_CHANNEL = /^[A-Za-z0-9_.:-]+$/

/**
 * The Postgres notification channel of a bus channel: `<schema>:<channel>` when that is plain and
 * fits an identifier (63 bytes), otherwise `sluice#` and a SHA-256 prefix of both. Scoping by schema
 * keeps stores on different schemas of one database apart.
 */
export function notificationChannel(schema: string, channel: string): string {
  const plain = `${schema}:${channel}`
  if (PLAIN_CHANNEL.test(channel) && plain.length <= MAX_IDENTIFIER_BYTES) return plain
  const digest = createHash('sha256').update(`${schema}\u0000${channel}`).digest('hex')
  return `sluice#${digest}`.slice(0, MAX_IDENTIFIER_BYTES)
}

/**
 * Creates the {@link Bus} over LISTEN/NOTIFY. `publish` is `pg_notify` (delivered when it commits,
 * in commit order); `subscribe` resolves once the LISTEN is active. Over `pg`, notifications arrive
 * on one dedicated connection that reconnects by itself; notices sent while it is down are lost,
 * which the Bus port allows (subscribers also reconcile periodically).
 */
export function createPostgresBus(context: StoreContext, capabilities: BusCapabilities): Bus {
  const { driver, schema } = context
  const guard = createGuard(context, BusError, 'bus')

  return {
    capabilities,

    publish: (channel, message) =>
      guard('publish', async () => {
        if (typeof message !== 'string') {
          throw invalidArgument(
            BusError,
            'bus',
            `publish: the message must be a string, got ${typeof message}`,
          )
        }
        if (Buffer.byteLength(message) > MAX_BUS_MESSAGE_BYTES) {
          throw invalidArgument(
            BusError,
            'bus',
            `publish to ${channel}: the message is ${Buffer.byteLength(message)} bytes; PostgreSQL ` +
              `notifications carry at most ${MAX_BUS_MESSAGE_BYTES} — send an id and let subscribers read the rest`,
            'message_too_large',
          )
        }
        await driver.query('SELECT pg_notify($1, $2)', [notificationChannel(schema, channel), message])
      }),

    subscribe: (channel, handler) =>
      guard('subscribe', async () => {
        const unlisten = await driver.listen(notificationChannel(schema, channel), (payload) => {
          try {
            handler(payload)
          } catch {
            // A failing subscriber must not stop delivery to the others.
          }
        })
        let active = true
        return async () => {
          if (!active) return
          active = false
          await unlisten()
        }
      }),
  }
}
