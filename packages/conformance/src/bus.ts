import type { Bus, BusCapabilities } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/** How long a delivery may take before a case fails, in real milliseconds. */
const DELIVERY_DEADLINE_MS = 3000

async function waitFor(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + DELIVERY_DEADLINE_MS
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${DELIVERY_DEADLINE_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Collects what a subscription receives. */
function recorder() {
  const received: string[] = []
  return { received, handler: (message: string) => void received.push(message) }
}

/**
 * The {@link Bus} conformance suite: per-channel fan-out to every current subscriber, in order.
 * Absence of delivery is checked with a sentinel published afterwards on the same channel, so
 * no case sleeps blindly.
 * @example
 * describeBusConformance('memory', () => createMemoryBus(), memoryBusCapabilities)
 */
export function describeBusConformance<T extends Bus>(
  name: string,
  factory: AdapterFactory<T>,
  capabilities: BusCapabilities,
  options: SuiteOptions<T> = {},
): void {
  describe(`Bus conformance: ${name}`, { timeout: 15_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let env: SuiteEnv
    let bus: T
    const channel = (suffix = 'changes') => `${env.namespace}${suffix}`

    beforeEach(async () => {
      env = harness.begin()
      bus = await harness.create()
    })
    afterEach(() => harness.end())

    it('a subscriber receives published messages in publish order, exactly as sent', async () => {
      const sub = recorder()
      await bus.subscribe(channel(), sub.handler)
      const messages = ['1', 'two', '{"configId":3}', 'ünïcødé 🦔', '']
      for (const message of messages) await bus.publish(channel(), message)
      await waitFor('5 messages', () => sub.received.length >= messages.length)
      expect(sub.received).toEqual(messages)
    })

    it('every subscriber of a channel receives each message', async () => {
      const first = recorder()
      const second = recorder()
      await bus.subscribe(channel(), first.handler)
      await bus.subscribe(channel(), second.handler)
      await bus.publish(channel(), 'a')
      await bus.publish(channel(), 'b')
      await waitFor('both deliveries', () => first.received.length >= 2 && second.received.length >= 2)
      expect(first.received).toEqual(['a', 'b'])
      expect(second.received).toEqual(['a', 'b'])
    })

    it('channels are isolated', async () => {
      const onA = recorder()
      const onB = recorder()
      await bus.subscribe(channel('a'), onA.handler)
      await bus.subscribe(channel('b'), onB.handler)
      await bus.publish(channel('a'), 'for a')
      await bus.publish(channel('b'), 'sentinel')
      await waitFor('deliveries', () => onA.received.length >= 1 && onB.received.length >= 1)
      await bus.publish(channel('a'), 'sentinel')
      await waitFor('the sentinel on a', () => onA.received.includes('sentinel'))
      expect(onA.received).toEqual(['for a', 'sentinel'])
      expect(onB.received).toEqual(['sentinel'])
    })

    it('publish to a channel nobody subscribes to resolves', async () => {
      await expect(bus.publish(channel('nobody'), 'x')).resolves.toBeUndefined()
    })

    it('unsubscribe stops delivery to that subscriber only', async () => {
      const stopped = recorder()
      const kept = recorder()
      const unsubscribe = await bus.subscribe(channel(), stopped.handler)
      await bus.subscribe(channel(), kept.handler)
      await bus.publish(channel(), 'before')
      await waitFor('the first message', () => stopped.received.length >= 1 && kept.received.length >= 1)
      await unsubscribe()
      await bus.publish(channel(), 'after')
      await bus.publish(channel(), 'sentinel')
      await waitFor('the sentinel', () => kept.received.includes('sentinel'))
      expect(kept.received).toEqual(['before', 'after', 'sentinel'])
      expect(stopped.received).toEqual(['before'])
    })

    it('a subscription made after a publish does not receive that earlier message', async () => {
      await bus.publish(channel(), 'earlier')
      const late = recorder()
      await bus.subscribe(channel(), late.handler)
      await bus.publish(channel(), 'later')
      await waitFor('the later message', () => late.received.length >= 1)
      expect(late.received).toEqual(['later'])
    })

    // Process-local buses reach only their own process; the memory adapter's own tests run this
    // group over one shared store.
    describe.runIf(capabilities.sharedAcrossInstances)('across instances', () => {
      it('a message published on one instance reaches subscribers on both', async () => {
        const other = await harness.create()
        const remote = recorder()
        const local = recorder()
        await other.subscribe(channel(), remote.handler)
        await bus.subscribe(channel(), local.handler)
        await bus.publish(channel(), 'm1')
        await bus.publish(channel(), 'm2')
        await waitFor(
          'delivery on both instances',
          () => remote.received.length >= 2 && local.received.length >= 2,
        )
        expect(remote.received).toEqual(['m1', 'm2'])
        expect(local.received).toEqual(['m1', 'm2'])
      })

      it('unsubscribe on one instance stops delivery from another', async () => {
        const other = await harness.create()
        const stopped = recorder()
        const kept = recorder()
        const unsubscribe = await other.subscribe(channel(), stopped.handler)
        await other.subscribe(channel(), kept.handler)
        await unsubscribe()
        await bus.publish(channel(), 'sentinel')
        await waitFor('the sentinel', () => kept.received.length >= 1)
        expect(stopped.received).toEqual([])
      })
    })
  })
}
