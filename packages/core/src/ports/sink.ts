import type { ProcessedPluginEvent } from '../events.js'

/** Port: a destination for processed events (file, Kafka topic, table, HTTP endpoint, …). */
export interface Sink {
  /** Short name used in logs and metrics, e.g. `kafka:events_out`. */
  readonly name: string
  /**
   * Resolves once the destination has durably accepted every event, in order. Core commits the
   * input only after every sink resolved, so a rejection means the batch is delivered again.
   */
  write(events: readonly ProcessedPluginEvent[]): Promise<void>
  /** Flushes anything buffered and releases resources. */
  close(): Promise<void>
}
