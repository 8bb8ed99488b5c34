import type { BatchHandler, Clock, QueueMessage, QueueRecord, TimerHandle } from '@sluice/core'

/** One delivery of a message by the service, with the means to settle it. */
export interface Delivery {
  /** The message id, the same on every redelivery. */
  readonly id: string
  /** The ordering key, or null for a message that is not ordered. */
  readonly orderingKey: string | null
  readonly record: QueueRecord
  /** The service's own delivery count (Pub/Sub keeps one only with a dead-letter policy), else 0. */
  readonly serviceAttempt: number
  /** When the service took the message, in ms since the epoch. */
  readonly publishedAt: number
  ack(): void
  nack(): void
}

/** A member of a group: hears when a key it may wait for is free, and takes back held messages. */
interface Member {
  wake(): void
  /** Takes a message held back behind its key's redelivery, now that it may go. */
  admitHeld(entry: Entry): void
}

/** A key whose nacked messages the service is about to deliver again. */
interface Rewind {
  /** Ids nacked and not yet delivered again. */
  readonly awaiting: Set<string>
  /** Later messages of the key that arrived first; they go after the awaited ones. */
  readonly held: { readonly owner: Member; readonly entry: Entry }[]
  timer: TimerHandle
}

/** Options of {@link GroupState}. */
export interface GroupStateOptions {
  clock: Clock
  /** How long later messages of a key wait for the key's nacked messages to come back. */
  rewindTimeoutMs: number
  /**
   * How many unacknowledged message ids to count deliveries for (the oldest are dropped first).
   * @default 100_000
   */
  maxTracked?: number
}

/**
 * What the consumers of one group share inside one process: the ordering keys some handler call
 * holds (so no two calls ever hold one key), the handler deliveries of unacknowledged messages, and
 * the keys whose nacked messages are on their way back. Pub/Sub delivers a key's nacked messages
 * again, but later messages of the key may reach a consumer first (the emulator does not redeliver
 * them along); those are held until the nacked ones are back, or for `rewindTimeoutMs` at most.
 */
export class GroupState {
  /** Ordering keys held by a handler call of one of the group's consumers. */
  readonly busy = new Set<string>()
  private readonly attempts = new Map<string, number>()
  private readonly members = new Set<Member>()
  private readonly rewinds = new Map<string, Rewind>()
  private readonly maxTracked: number

  constructor(private readonly options: GroupStateOptions) {
    this.maxTracked = options.maxTracked ?? 100_000
  }

  join(member: Member): void {
    this.members.add(member)
  }

  leave(member: Member): void {
    this.members.delete(member)
  }

  /** Records one more handler delivery of `id` and returns its attempt number (1 the first time). */
  countDelivery(id: string, serviceAttempt: number): number {
    const attempt = Math.max((this.attempts.get(id) ?? 0) + 1, serviceAttempt)
    // Re-insert so the map's order is least recently delivered first.
    this.attempts.delete(id)
    this.attempts.set(id, attempt)
    if (this.attempts.size > this.maxTracked) {
      const oldest = this.attempts.keys().next()
      if (!oldest.done) this.attempts.delete(oldest.value)
    }
    return attempt
  }

  /** Forgets an acknowledged message. */
  forget(id: string): void {
    this.attempts.delete(id)
  }

  /** Frees `keys` and tells every member, since one may hold messages of them. */
  release(keys: readonly string[]): void {
    if (keys.length === 0) return
    for (const key of keys) this.busy.delete(key)
    for (const member of this.members) member.wake()
  }

  /** Notes that `ids` of `key` were nacked: later messages of the key wait until they are back. */
  awaitRedelivery(key: string, ids: readonly string[]): void {
    if (ids.length === 0) return
    const rewind = this.rewinds.get(key)
    if (rewind) {
      for (const id of ids) rewind.awaiting.add(id)
      rewind.timer.cancel()
      rewind.timer = this.startTimer(key)
      return
    }
    this.rewinds.set(key, { awaiting: new Set(ids), held: [], timer: this.startTimer(key) })
  }

  /**
   * Whether a message of `key` that just arrived may be queued now. If not, it is held for `owner`
   * and handed back through `owner.admitHeld` once the key's nacked messages are back. Call
   * {@link settle} after queueing an admitted message.
   */
  admit(key: string, entry: Entry, owner: Member): boolean {
    const rewind = this.rewinds.get(key)
    if (!rewind || rewind.awaiting.delete(entry.id)) return true
    rewind.held.push({ owner, entry })
    return false
  }

  /** Ends the key's wait once every nacked message is back, handing the held ones out in order. */
  settle(key: string): void {
    const rewind = this.rewinds.get(key)
    if (rewind && rewind.awaiting.size === 0) this.endRewind(key)
  }

  /** Takes back what `owner` has held (it is nacking or leaving), by key. */
  takeHeld(owner: Member, key?: string): Map<string, Entry[]> {
    const taken = new Map<string, Entry[]>()
    for (const [rewindKey, rewind] of this.rewinds) {
      if (key !== undefined && rewindKey !== key) continue
      const mine = rewind.held.filter((held) => held.owner === owner)
      if (mine.length === 0) continue
      rewind.held.splice(0, rewind.held.length, ...rewind.held.filter((held) => held.owner !== owner))
      taken.set(
        rewindKey,
        mine.map((held) => held.entry),
      )
    }
    return taken
  }

  /** Messages held for `owner`. */
  heldFor(owner: Member): number {
    let count = 0
    for (const rewind of this.rewinds.values())
      for (const held of rewind.held) if (held.owner === owner) count++
    return count
  }

  /** Cancels every timer (the transport is closing). */
  dispose(): void {
    for (const rewind of this.rewinds.values()) rewind.timer.cancel()
    this.rewinds.clear()
  }

  private startTimer(key: string): TimerHandle {
    return this.options.clock.setTimer(this.options.rewindTimeoutMs, () => this.endRewind(key))
  }

  private endRewind(key: string): void {
    const rewind = this.rewinds.get(key)
    if (!rewind) return
    rewind.timer.cancel()
    this.rewinds.delete(key)
    for (const { owner, entry } of rewind.held) owner.admitHeld(entry)
  }
}

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  handler: BatchHandler
  group: GroupState
  clock: Clock
  maxBatchSize: number
  maxConcurrentBatches: number
  /** How long the first buffered message waits for more before a batch that is not full goes. */
  lingerMs: number
  /** How long the messages of a rejected batch stay held before they are nacked (redelivered). */
  redeliveryDelayMs: number
}

interface Entry {
  readonly id: string
  readonly orderingKey: string | null
  readonly record: QueueRecord
  readonly serviceAttempt: number
  readonly publishedAt: number
  /** Every delivery of this message that is not settled yet (duplicates settle together). */
  readonly deliveries: Delivery[]
}

interface Batch {
  readonly entries: Entry[]
  /** Ordering keys this batch holds. */
  readonly keys: string[]
}

const UNORDERED: unique symbol = Symbol('unordered')
type QueueKey = string | typeof UNORDERED

/**
 * Turns a stream of deliveries into handler calls: at most `maxBatchSize` messages each, at most
 * `maxConcurrentBatches` at once, never two holding one ordering key (across the group's consumers
 * in this process), each key's messages in arrival order. A resolved call acks its messages; a
 * rejected one nacks them, and every buffered message of the same keys, after `redeliveryDelayMs`,
 * so the service delivers them all again in order.
 *
 * Pure logic over {@link Delivery} objects and a {@link Clock}: the Pub/Sub consumer feeds it.
 */
export class Batcher {
  private readonly queues = new Map<QueueKey, Entry[]>()
  /** Buffered, held and in-flight entries by message id. */
  private readonly entries = new Map<string, Entry>()
  private buffered = 0
  private readonly running = new Set<Promise<void>>()
  private readonly delayed = new Map<TimerHandle, Batch>()
  private lingerTimer: TimerHandle | undefined
  private dispatchQueued = false
  private stopping = false
  private stopped = false
  private stopPromise: Promise<void> | undefined
  private readonly member: Member = {
    wake: () => this.schedule(true),
    admitHeld: (entry) => this.enqueue(entry),
  }

  constructor(private readonly options: BatcherOptions) {
    options.group.join(this.member)
  }

  /** Messages waiting for a handler call (buffered or held back behind a key's redelivery). */
  get pending(): number {
    return this.buffered + this.options.group.heldFor(this.member)
  }

  /** Handler calls running now. */
  get inFlight(): number {
    return this.running.size
  }

  /** Takes one delivery from the service. */
  receive(delivery: Delivery): void {
    if (this.stopped) {
      // Left to the subscriber's close, which nacks what it still leases; later messages of the
      // key wait in the group for this one to come back.
      if (delivery.orderingKey !== null)
        this.options.group.awaitRedelivery(delivery.orderingKey, [delivery.id])
      return
    }
    const existing = this.entries.get(delivery.id)
    if (existing) {
      // Delivered again while still here (a lease ran out, say): settle both copies together.
      existing.deliveries.push(delivery)
      return
    }
    const entry: Entry = {
      id: delivery.id,
      orderingKey: delivery.orderingKey,
      record: delivery.record,
      serviceAttempt: delivery.serviceAttempt,
      publishedAt: delivery.publishedAt,
      deliveries: [delivery],
    }
    this.entries.set(entry.id, entry)
    const key = entry.orderingKey
    if (key === null) {
      this.enqueue(entry)
      return
    }
    const { group } = this.options
    if (!group.admit(key, entry, this.member)) return
    this.enqueue(entry)
    group.settle(key)
  }

  /**
   * Stops handing out batches and waits for the handler calls in flight, acking or letting go of
   * their messages. What is still buffered, and what arrives later, is left unsettled, its keys
   * waiting in the group: the caller then closes the subscriber, which stops the stream first and
   * nacks what it still leases. Nacking while the stream is open would make the service hand
   * those messages straight back to this consumer (the emulator does), and newer messages of the
   * keys could then run elsewhere first. Idempotent.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown()
    return this.stopPromise
  }

  /**
   * Forgets every buffered message without settling it: the subscriber they came from closed and
   * the service delivers them again. Handler calls in flight carry on.
   */
  discard(): void {
    this.release()
  }

  private async shutdown(): Promise<void> {
    this.stopping = true
    this.lingerTimer?.cancel()
    this.lingerTimer = undefined
    while (this.running.size > 0) await Promise.allSettled([...this.running])
    for (const [timer, batch] of this.delayed) {
      timer.cancel()
      this.redeliver(batch)
    }
    this.delayed.clear()
    this.release()
    this.stopped = true
    this.options.group.leave(this.member)
  }

  /**
   * Lets go of every buffered and held message without settling it (its subscriber is closing or
   * gone, and the service delivers it again). Their keys wait in the group for them to come back,
   * so another consumer cannot run later messages of those keys first.
   */
  private release(): void {
    const { group } = this.options
    const byKey = group.takeHeld(this.member)
    for (const [key, fifo] of this.queues) {
      if (key === UNORDERED) {
        for (const entry of fifo) this.entries.delete(entry.id)
        continue
      }
      byKey.set(key, [...fifo, ...(byKey.get(key) ?? [])])
    }
    this.queues.clear()
    this.buffered = 0
    for (const [key, entries] of byKey) {
      for (const entry of entries) this.entries.delete(entry.id)
      group.awaitRedelivery(
        key,
        entries.map((entry) => entry.id),
      )
    }
  }

  private letGo(entry: Entry, nack: boolean): void {
    if (nack) this.nack(entry)
    else this.entries.delete(entry.id)
  }

  private enqueue(entry: Entry): void {
    const key: QueueKey = entry.orderingKey ?? UNORDERED
    const fifo = this.queues.get(key)
    if (fifo) fifo.push(entry)
    else this.queues.set(key, [entry])
    this.buffered += 1
    this.schedule(false)
  }

  /** Dispatches soon: at once when asked or a full batch is waiting, else after the linger. */
  private schedule(now: boolean): void {
    if (this.stopping || this.buffered === 0) return
    if (now || this.buffered >= this.options.maxBatchSize || this.options.lingerMs <= 0) {
      if (this.dispatchQueued) return
      this.dispatchQueued = true
      queueMicrotask(() => {
        this.dispatchQueued = false
        this.dispatch()
      })
      return
    }
    this.lingerTimer ??= this.options.clock.setTimer(this.options.lingerMs, () => {
      this.lingerTimer = undefined
      this.dispatch()
    })
  }

  private dispatch(): void {
    if (this.stopping) return
    this.lingerTimer?.cancel()
    this.lingerTimer = undefined
    while (this.running.size < this.options.maxConcurrentBatches) {
      const batch = this.take()
      if (!batch) return
      this.run(batch)
    }
  }

  /** Up to `maxBatchSize` messages, whole key prefixes of keys no handler call holds. */
  private take(): Batch | undefined {
    const { busy } = this.options.group
    let room = this.options.maxBatchSize
    const entries: Entry[] = []
    const keys: string[] = []
    const requeue: [QueueKey, Entry[]][] = []
    for (const [key, fifo] of this.queues) {
      if (room === 0) break
      if (key !== UNORDERED && busy.has(key)) continue
      const taken = fifo.splice(0, room)
      for (const entry of taken) entries.push(entry)
      room -= taken.length
      // Keys that still have messages go to the back, so one long key cannot starve the others.
      this.queues.delete(key)
      if (fifo.length > 0) requeue.push([key, fifo])
      if (key !== UNORDERED) {
        busy.add(key)
        keys.push(key)
      }
    }
    for (const [key, fifo] of requeue) this.queues.set(key, fifo)
    if (entries.length === 0) return undefined
    this.buffered -= entries.length
    return { entries, keys }
  }

  private run(batch: Batch): void {
    const { group, handler } = this.options
    const messages = batch.entries.map((entry): QueueMessage => {
      const message: QueueMessage = {
        id: entry.id,
        key: entry.record.key,
        value: entry.record.value,
        deliveryAttempt: group.countDelivery(entry.id, entry.serviceAttempt),
        publishedAt: entry.publishedAt,
      }
      if (entry.record.headers !== undefined) message.headers = entry.record.headers
      return message
    })
    const call = (async () => {
      let acknowledged = true
      try {
        await handler(messages)
      } catch {
        acknowledged = false
      }
      if (acknowledged) this.acknowledge(batch)
      else this.reject(batch)
    })()
    this.running.add(call)
    void call.finally(() => {
      this.running.delete(call)
      this.schedule(true)
    })
  }

  private acknowledge(batch: Batch): void {
    for (const entry of batch.entries) {
      for (const delivery of entry.deliveries) settle(delivery, 'ack')
      this.entries.delete(entry.id)
      this.options.group.forget(entry.id)
    }
    this.options.group.release(batch.keys)
  }

  private reject(batch: Batch): void {
    if (this.stopping || this.options.redeliveryDelayMs <= 0) {
      this.redeliver(batch)
      return
    }
    // The batch's keys stay held meanwhile, so a failing handler cannot spin on them.
    const timer = this.options.clock.setTimer(this.options.redeliveryDelayMs, () => {
      this.delayed.delete(timer)
      this.redeliver(batch)
    })
    this.delayed.set(timer, batch)
  }

  /**
   * Nacks a rejected batch and every buffered or held message of its keys (when stopping, leaves
   * them to the subscriber's close): the service delivers a key's messages again from the first
   * nacked one, and later ones must not overtake them.
   */
  private redeliver(batch: Batch): void {
    const { group } = this.options
    const nackNow = !this.stopping
    const nacked = new Map<string, string[]>()
    for (const entry of batch.entries) {
      this.letGo(entry, nackNow)
      if (entry.orderingKey !== null) {
        const ids = nacked.get(entry.orderingKey)
        if (ids) ids.push(entry.id)
        else nacked.set(entry.orderingKey, [entry.id])
      }
    }
    for (const key of batch.keys) {
      const ids = nacked.get(key) ?? []
      const fifo = this.queues.get(key)
      if (fifo) {
        this.queues.delete(key)
        this.buffered -= fifo.length
        for (const entry of fifo) {
          this.letGo(entry, nackNow)
          ids.push(entry.id)
        }
      }
      for (const entry of group.takeHeld(this.member, key).get(key) ?? []) {
        this.letGo(entry, nackNow)
        ids.push(entry.id)
      }
      group.awaitRedelivery(key, ids)
    }
    group.release(batch.keys)
    this.schedule(true)
  }

  private nack(entry: Entry): void {
    for (const delivery of entry.deliveries) settle(delivery, 'nack')
    this.entries.delete(entry.id)
  }
}

/** Acks or nacks; a failure to settle only means the service delivers the message again. */
function settle(delivery: Delivery, how: 'ack' | 'nack'): void {
  try {
    if (how === 'ack') delivery.ack()
    else delivery.nack()
  } catch {
    // The subscriber it came from is gone; its lease runs out and it is delivered again.
  }
}
