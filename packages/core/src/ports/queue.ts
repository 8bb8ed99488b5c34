/** A message to put on a queue topic. */
export interface QueueRecord {
  /**
   * Ordering key: records with the same key are delivered in the order they were produced
   * (where the transport has `orderedByKey`). Sluice uses `<team_id>:<distinct_id>`.
   */
  key: string | null
  /** The payload, usually JSON text. */
  value: string
  headers?: Readonly<Record<string, string>>
}

/** A record as a consumer receives it. */
export interface QueueMessage extends QueueRecord {
  /** Transport-specific identity of this message (offset, ack id, …), unique within the topic. */
  id: string
  /** 1 on first delivery, then one more on every redelivery (transports with `redelivers` must count). */
  deliveryAttempt: number
  /**
   * When the transport took the record, in ms since the epoch (Kafka: the record's timestamp;
   * Pub/Sub: its publish time), the same on every delivery. Consumers measure their lag by it.
   */
  publishedAt: number
}

/** What a queue transport guarantees; core and the conformance suite branch on these. */
export interface QueueCapabilities {
  /**
   * Messages of one key are handed out in produce order, never two batches of one key at once. A
   * message delivered again (its consumer failed or left) comes back followed by the key's later
   * messages, so each message's last delivery is in produce order even when a consumer that left
   * let a later one through first.
   */
  orderedByKey: boolean
  /** Messages of a batch whose handler failed, or that were never acknowledged, are delivered again. */
  redelivers: boolean
  /** Several consumers of one group split the messages between them. */
  sharedConsumption: boolean
  /** Produced messages survive the producer restarting. */
  durable: boolean
}

/** How to consume a topic. */
export interface ConsumeOptions {
  /**
   * Consumer group (Kafka group id, Pub/Sub subscription): consumers of one group share the work.
   * A group consuming a topic for the first time receives records produced before it started.
   */
  group: string
  /**
   * Upper bound on the messages handed to one handler call.
   * @default 500
   */
  maxBatchSize?: number
}

/**
 * Processes one batch (never an empty one). Resolving acknowledges every message of the batch (the transport may then
 * commit them); rejecting acknowledges none, so they are delivered again. A transport may run
 * several handler calls at once (one per partition, say) but, with `orderedByKey`, never two that
 * hold messages of the same key.
 */
export type BatchHandler = (messages: readonly QueueMessage[]) => Promise<void>

/** A running consumer. */
export interface QueueSubscription {
  /**
   * Stops fetching, waits for handler calls in flight to settle (and their acks), then resolves.
   * Idempotent. Never await it from inside the handler: it waits for that very handler.
   */
  stop(): Promise<void>
}

/** Port: the ingestion queue (and any other topic core produces to). */
export interface QueueTransport {
  readonly capabilities: QueueCapabilities
  /** Resolves once the transport has durably accepted every record (acks awaited). */
  produce(topic: string, records: readonly QueueRecord[]): Promise<void>
  /** Starts consuming `topic`; the handler receives batches in order. */
  consume(topic: string, options: ConsumeOptions, handler: BatchHandler): Promise<QueueSubscription>
  /** Stops every consumer and releases connections. */
  close(): Promise<void>
}
