import type { QueueTransport } from '@sluice/core'

/** A queue transport that knows whether everything this process produced to one topic was handled. */
export interface DrainableQueue extends QueueTransport {
  /** Resolves once every record produced here to the topic was handled (its batch resolved). */
  drain(): Promise<void>
}

/**
 * Wraps `queue` to count records produced to `topic` and messages of it whose handler resolved.
 * A graceful shutdown on a queue that does not survive the process (the in-memory one) drains
 * first, so stopping loses nothing that was acknowledged to an SDK.
 */
export function createDrainableQueue(queue: QueueTransport, topic: string): DrainableQueue {
  let produced = 0
  let handled = 0
  let waiters: (() => void)[] = []
  const settle = () => {
    if (handled < produced) return
    for (const wake of waiters.splice(0)) wake()
  }
  return {
    capabilities: queue.capabilities,
    async produce(target, records) {
      await queue.produce(target, records)
      if (target === topic) produced += records.length
    },
    consume(target, options, handler) {
      if (target !== topic) return queue.consume(target, options, handler)
      return queue.consume(target, options, async (messages) => {
        await handler(messages)
        handled += messages.length
        settle()
      })
    },
    close: () => queue.close(),
    drain() {
      if (handled >= produced) return Promise.resolve()
      return new Promise<void>((resolve) => {
        waiters = [...waiters, resolve]
      })
    },
  }
}
