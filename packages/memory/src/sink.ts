import { type ProcessedPluginEvent, type Sink, SinkError } from '@sluice/core'

/** Options of {@link createMemorySink}. */
export interface MemorySinkOptions {
  /**
   * The sink's name in logs and metrics.
   * @default 'memory'
   */
  name?: string
}

/** A sink that keeps what it is given, for tests and local runs. */
export interface MemorySink extends Sink {
  /** Every event written so far, in write order (copies: changing them changes nothing held). */
  events(): ProcessedPluginEvent[]
}

/**
 * Creates a sink that keeps events in process memory. Written events are copied, so later changes
 * to the caller's objects do not alter what the sink holds.
 *
 * @example
 * const sink = createMemorySink()
 * await sink.write(events)
 * expect(sink.events()).toEqual(events)
 */
export function createMemorySink(options: MemorySinkOptions = {}): MemorySink {
  const name = options.name ?? 'memory'
  const held: ProcessedPluginEvent[] = []
  let closed = false

  return {
    name,

    async write(events) {
      if (closed) {
        throw new SinkError(`sink '${name}' was closed: write to a new sink`, {
          retryable: false,
          code: 'sink.closed',
        })
      }
      let copies: ProcessedPluginEvent[]
      try {
        copies = events.map((event) => structuredClone(event))
      } catch (error) {
        throw new SinkError(`sink '${name}' cannot hold an event that is not plain data (JSON values only)`, {
          retryable: false,
          code: 'sink.invalid',
          cause: error,
        })
      }
      for (const copy of copies) held.push(copy)
    },

    async close() {
      closed = true
    },

    events: () => held.map((event) => structuredClone(event)),
  }
}
