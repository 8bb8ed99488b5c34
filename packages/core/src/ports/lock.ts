/** What a lock guarantees. */
export interface LockCapabilities {
  /** The lock excludes holders in other processes, not just in this one. */
  sharedAcrossInstances: boolean
}

/**
 * Port: named locks with a time to live, for leader election. A holder renews by acquiring again
 * before the TTL ends; a holder that stops renewing loses the lock when the TTL ends.
 */
export interface Lock {
  readonly capabilities: LockCapabilities
  /**
   * Takes the lock, or renews it when `owner` already holds it. True when `owner` holds it
   * afterwards. `ttlMs` must be positive (otherwise a non-retryable `LockError`).
   */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>
  /** Gives the lock up if `owner` holds it; otherwise does nothing. */
  release(name: string, owner: string): Promise<void>
  /** The current holder, or null. */
  holder(name: string): Promise<string | null>
}
