/** What a storage adapter guarantees. */
export interface StorageCapabilities {
  /** Values survive a restart of the server that wrote them. */
  durable: boolean
  /** Writes by one process are seen by every other process, and increments are atomic across them. */
  sharedAcrossInstances: boolean
}

/**
 * Port: durable key/value storage of JSON text, partitioned by scope (core uses one scope per
 * plugin config for `meta.storage`, another for `meta.utils.cursor`).
 */
export interface Storage {
  readonly capabilities: StorageCapabilities
  /** The JSON text at `key` (equal in value to what was set; whitespace and key order may differ), or null. */
  get(scope: string, key: string): Promise<string | null>
  /** Creates or replaces. Rejects with a non-retryable `StorageError` when `value` is not JSON text. */
  set(scope: string, key: string, value: string): Promise<void>
  /** Removes the key; missing keys are fine. */
  delete(scope: string, key: string): Promise<void>
  /** Sets only if missing; true when this call set it. Atomic. */
  setIfAbsent(scope: string, key: string, value: string): Promise<boolean>
  /**
   * Adds `by` to the number at `key` (missing counts as 0) and returns the new value, atomically.
   * Rejects with a non-retryable `StorageError` if the stored value is not a JSON number.
   */
  increment(scope: string, key: string, by: number): Promise<number>
}
