/**
 * The per-config `exportEvents` buffer of SPEC §2.1 as a pure state machine. It never reads the
 * clock and sets no timers: the caller passes `now` in, schedules a wake-up at
 * {@link ExportBuffer.nextDeadline} and calls {@link ExportBuffer.due} then. Every method returns
 * the batches that must be exported right away, oldest first.
 */

/** 1 MiB: the default buffer limit, in bytes of JSON. */
export const EXPORT_BUFFER_DEFAULT_BYTES = 1024 * 1024
/** The default limit is multiplied by this when the plugin's `getSettings()` says `handlesLargeBatches`. */
export const LARGE_BATCHES_FACTOR = 10
/** Largest accepted `exportEventsBufferBytes` (100 MiB); larger values are clamped. */
export const EXPORT_BUFFER_MAX_BYTES = 100 * 1024 * 1024
/** Default `exportEventsBufferSeconds`. */
export const EXPORT_BUFFER_DEFAULT_SECONDS = 10
/** Smallest accepted `exportEventsBufferSeconds`; smaller values are clamped. */
export const EXPORT_BUFFER_MIN_SECONDS = 1
/** Largest accepted `exportEventsBufferSeconds` (10 minutes); larger values are clamped. */
export const EXPORT_BUFFER_MAX_SECONDS = 600

/** When an {@link ExportBuffer} flushes. */
export interface ExportBufferOptions {
  /** Flush before an item would take the buffer past this many bytes. */
  readonly maxBytes: number
  /** Flush once the oldest buffered item is this old. */
  readonly maxAgeMs: number
}

/** A config's export buffer settings, read from its `exportEvents*` config keys. */
export interface ExportBufferSettings extends ExportBufferOptions {
  /** Event names (`event.event`) that are not exported at all. */
  readonly ignoredEvents: ReadonlySet<string>
  /** Config values that were unusable or out of range, and what was used instead; for the plugin log. */
  readonly warnings: readonly string[]
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
}

function readNumber(
  config: Record<string, unknown>,
  key: string,
  fallback: number,
  min: number,
  max: number,
  warnings: string[],
): number {
  const raw = config[key]
  if (isBlank(raw)) return fallback
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : Number.NaN
  if (!Number.isFinite(value)) {
    warnings.push(`${key} ${JSON.stringify(raw)} is not a number; using the default ${fallback}`)
    return fallback
  }
  const clamped = Math.min(max, Math.max(min, value))
  if (clamped !== value) warnings.push(`${key} ${value} is outside ${min}–${max}; using ${clamped}`)
  return clamped
}

function readIgnored(raw: unknown, warnings: string[]): Set<string> {
  if (isBlank(raw)) return new Set()
  let names: unknown[]
  if (typeof raw === 'string') names = raw.split(',')
  else if (Array.isArray(raw)) names = raw
  else {
    warnings.push('exportEventsToIgnore must be a comma-separated list of event names; ignoring it')
    return new Set()
  }
  return new Set(
    names
      .filter((name): name is string => typeof name === 'string')
      .map((name) => name.trim())
      .filter(Boolean),
  )
}

/**
 * Reads a config's buffer settings: `exportEventsBufferBytes` (default 1 MiB, or 10 MiB when
 * `handlesLargeBatches`; clamped to 1 B–100 MiB), `exportEventsBufferSeconds` (default 10;
 * clamped to 1–600) and `exportEventsToIgnore` (comma-separated, trimmed). Numbers may be given
 * as numeric strings; an unusable value falls back to the default with a warning, as a config
 * saved before these keys were validated must still export.
 *
 * @param handlesLargeBatches From the plugin's `getSettings()`; an explicit config value wins.
 * @example
 * exportBufferSettings({ exportEventsBufferSeconds: '30', exportEventsToIgnore: '$pageview, $identify' })
 * // { maxBytes: 1048576, maxAgeMs: 30000, ignoredEvents: Set { '$pageview', '$identify' }, warnings: [] }
 */
export function exportBufferSettings(
  config: Record<string, unknown>,
  handlesLargeBatches = false,
): ExportBufferSettings {
  const warnings: string[] = []
  const defaultBytes = EXPORT_BUFFER_DEFAULT_BYTES * (handlesLargeBatches ? LARGE_BATCHES_FACTOR : 1)
  const maxBytes = Math.floor(
    readNumber(config, 'exportEventsBufferBytes', defaultBytes, 1, EXPORT_BUFFER_MAX_BYTES, warnings),
  )
  const seconds = readNumber(
    config,
    'exportEventsBufferSeconds',
    EXPORT_BUFFER_DEFAULT_SECONDS,
    EXPORT_BUFFER_MIN_SECONDS,
    EXPORT_BUFFER_MAX_SECONDS,
    warnings,
  )
  const ignoredEvents = readIgnored(config.exportEventsToIgnore, warnings)
  return { maxBytes, maxAgeMs: seconds * 1000, ignoredEvents, warnings }
}

function assertFinite(name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`)
}

/**
 * Buffers items for `exportEvents` and says when to flush.
 *
 * Rules: an item that would take the buffer past `maxBytes` first flushes what is buffered; an
 * item larger than `maxBytes` on its own is flushed alone at once; the buffer flushes when its
 * oldest item is `maxAgeMs` old; {@link drain} flushes everything (teardown). Order is kept
 * across batches.
 *
 * @example
 * const buffer = new ExportBuffer<Event>(settings)
 * for (const batch of buffer.add(event, JSON.stringify(event).length, clock.now())) await exportBatch(batch)
 * // later, at buffer.nextDeadline():
 * for (const batch of buffer.due(clock.now())) await exportBatch(batch)
 */
export class ExportBuffer<T> {
  readonly #maxBytes: number
  readonly #maxAgeMs: number
  #items: T[] = []
  #bytes = 0
  #oldestAt: number | null = null

  /** @throws RangeError when `maxBytes` or `maxAgeMs` is not a positive number. */
  constructor(options: ExportBufferOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${options.maxBytes}`)
    if (!(options.maxAgeMs > 0)) throw new RangeError(`maxAgeMs must be positive, got ${options.maxAgeMs}`)
    this.#maxBytes = options.maxBytes
    this.#maxAgeMs = options.maxAgeMs
  }

  /** How many items are buffered. */
  get size(): number {
    return this.#items.length
  }

  /** The buffered items' total size, as passed to {@link add}. */
  get bytes(): number {
    return this.#bytes
  }

  /**
   * Buffers an item and returns the batches to export now (none, one, or two when an oversized
   * item follows buffered ones). A buffer that is already past its age limit is flushed first,
   * so a late `due` call never lets a new item join a stale batch.
   *
   * @param sizeBytes The item's size, normally its JSON length.
   * @param now Epoch milliseconds from the caller's clock.
   * @throws RangeError when `sizeBytes` is negative or either number is not finite.
   */
  add(item: T, sizeBytes: number, now: number): T[][] {
    assertFinite('sizeBytes', sizeBytes)
    assertFinite('now', now)
    if (sizeBytes < 0) throw new RangeError(`sizeBytes must be ≥ 0, got ${sizeBytes}`)
    const batches = this.due(now)
    if (this.#items.length > 0 && this.#bytes + sizeBytes > this.#maxBytes) batches.push(this.#take())
    if (sizeBytes > this.#maxBytes) {
      batches.push([item])
      return batches
    }
    if (this.#items.length === 0) this.#oldestAt = now
    this.#items.push(item)
    this.#bytes += sizeBytes
    return batches
  }

  /** The buffered batch if its oldest item is at least `maxAgeMs` old at `now`, else nothing. */
  due(now: number): T[][] {
    assertFinite('now', now)
    if (this.#oldestAt === null || now - this.#oldestAt < this.#maxAgeMs) return []
    return [this.#take()]
  }

  /** When to call {@link due} next, in epoch milliseconds; `null` while the buffer is empty. */
  nextDeadline(): number | null {
    return this.#oldestAt === null ? null : this.#oldestAt + this.#maxAgeMs
  }

  /** Empties the buffer (teardown): the buffered batch, or nothing when empty. */
  drain(): T[][] {
    return this.#items.length > 0 ? [this.#take()] : []
  }

  #take(): T[] {
    const batch = this.#items
    this.#items = []
    this.#bytes = 0
    this.#oldestAt = null
    return batch
  }
}
