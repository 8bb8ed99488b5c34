/** Every place a dead letter can come from. */
export const DEAD_LETTER_SOURCES = [
  'ingestion',
  'export-events',
  'webhook',
  'capture',
  'sink',
  'job',
] as const

/** Where a dead letter came from. */
export type DeadLetterSource = (typeof DEAD_LETTER_SOURCES)[number]

/** Whether `value` is one of {@link DEAD_LETTER_SOURCES}. */
export const isDeadLetterSource = (value: unknown): value is DeadLetterSource =>
  (DEAD_LETTER_SOURCES as readonly unknown[]).includes(value)

/** Something Sluice could not process, kept with its reason for inspection and replay. */
export interface NewDeadLetter {
  source: DeadLetterSource
  /** What went wrong, readable by an operator. Never contains secrets. */
  reason: string
  /** The original input (event JSON, export batch, webhook request) as text. */
  payload: string
  teamId: number | null
  configId: number | null
}

/** A stored dead letter. */
export interface DeadLetter extends NewDeadLetter {
  /** Unique; ids sort in insertion order as plain strings (code-unit order), e.g. zero-padded. */
  id: string
  /** Epoch ms. */
  createdAt: number
}

/** Which dead letters to list. */
export interface DeadLetterQuery {
  source?: DeadLetterSource
  configId?: number
  teamId?: number
  /** Only entries after this id (pagination). */
  after?: string
  /**
   * At most this many, oldest first.
   * @default 100
   */
  limit?: number
}

/** Port: the dead-letter store. Nothing Sluice cannot process is dropped silently. */
export interface DeadLetterStore {
  /** Returns the new ids, in order. */
  put(entries: readonly NewDeadLetter[]): Promise<string[]>
  /** Oldest first. */
  list(query?: DeadLetterQuery): Promise<DeadLetter[]>
  /** Null for an unknown id, malformed ones included; never throws for the id's shape. */
  get(id: string): Promise<DeadLetter | null>
  /** Removes entries (after a successful replay); returns how many existed. */
  delete(ids: readonly string[]): Promise<number>
}
