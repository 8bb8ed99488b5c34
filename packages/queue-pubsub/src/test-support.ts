import { Duration, type Message, PubSub, type Subscription } from '@google-cloud/pubsub'

/** The emulator the integration tests use. */
export const emulatorHost = process.env.PUBSUB_EMULATOR_HOST ?? '127.0.0.1:8085'
/** Any project id works with the emulator. */
export const projectId = 'sluice-test'

/** Nothing listens on port 1: every call fails as fast as the service is unreachable. */
export const unreachable = { projectId: 'p', apiEndpoint: '127.0.0.1:1', timeoutMs: 500 }
/**
 * The same, with time to see the refusal: on a loaded machine a call can reach a 500 ms deadline
 * before its first connection attempt was refused, and then it is reported as a timeout.
 */
export const refusing = { ...unreachable, timeoutMs: 3_000 }

/** A client of the emulator that tests use to look at topics directly. */
export function emulatorClient(): PubSub {
  return new PubSub({
    projectId,
    apiEndpoint: emulatorHost,
    clientOptions: { universeDomain: 'googleapis.com' },
  })
}

/** Everything a subscription received, acked as it arrives. */
export interface Reader {
  /** Messages in the order the subscription delivered them. */
  readonly messages: Message[]
  close(): Promise<void>
}

/**
 * Creates `topic` if needed and an ordered subscription `<topic>-read` on it, and starts collecting
 * what it delivers. Create it before writing: a subscription only gets messages published after it.
 */
export async function openReader(client: PubSub, topic: string): Promise<Reader> {
  const [exists] = await client.topic(topic).exists()
  if (!exists) await client.createTopic(topic)
  const [subscription] = await client
    .topic(topic)
    .createSubscription(`${topic}-read`, { enableMessageOrdering: true })
  const messages: Message[] = []
  subscription.on('error', () => {})
  subscription.on('message', (message: Message) => {
    messages.push(message)
    message.ack()
  })
  return {
    messages,
    async close() {
      await subscription.close()
      await subscription.delete().catch(() => {})
    },
  }
}

/** Polls `done` every 20 ms; fails naming `what()` after `timeoutMs`. */
export async function waitUntil(done: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A client whose subscriptions can be torn down the way a crash leaves them. */
export interface CrashableClient {
  readonly pubsub: PubSub
  /**
   * Ends every streaming pull the client opened without acking or nacking anything and without
   * telling their listeners, as a dead process would; the messages they held come back once their
   * leases run out. (Cutting the TCP connection instead would be closer still, but the emulator can
   * then keep an ordering key bound to the dead stream for a minute or more.)
   */
  crash(): Promise<void>
}

/** An emulator client for a consumer that is going to {@link CrashableClient.crash}. */
export function crashableClient(): CrashableClient {
  const pubsub = emulatorClient()
  const opened: Subscription[] = []
  const subscription = pubsub.subscription.bind(pubsub)
  pubsub.subscription = (name, options) => {
    // A zero close timeout drops what the subscriber holds instead of nacking it.
    const created = subscription(name, {
      ...options,
      closeOptions: { timeout: Duration.from({ seconds: 0 }) },
    })
    opened.push(created)
    return created
  }
  return {
    pubsub,
    async crash() {
      for (const created of opened) {
        created.removeAllListeners()
        created.on('error', () => {})
        await created.close()
      }
    },
  }
}
