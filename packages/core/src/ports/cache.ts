/** What a cache guarantees. */
export interface CacheCapabilities {
  /** Values and lists written by one server process are seen by all the others. */
  sharedAcrossInstances: boolean
}

/**
 * Port: a Redis-shaped cache of strings and lists. Keys arrive already namespaced; JSON
 * serialisation and the plugin-facing `meta.cache` contract are derived by core.
 * Expired keys behave exactly like missing ones. List operations on a string key, and `incr` on a
 * list or a non-integer, reject with a non-retryable `CacheError` (`cache.wrong_type`,
 * `cache.not_an_integer`); `get` of a list key returns null.
 */
export interface Cache {
  readonly capabilities: CacheCapabilities
  /** The string at `key`, or null when missing or not a string. */
  get(key: string): Promise<string | null>
  /** The strings at `keys`, in the same order (null where missing). */
  getMany(keys: readonly string[]): Promise<(string | null)[]>
  /** Sets `key`; a positive `ttlSeconds` expires it; none, 0 or less keeps it until overwritten. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>
  /** Adds `by` to the integer at `key` (missing counts as 0) and returns the result. Keeps the TTL. */
  incr(key: string, by: number): Promise<number>
  /** Sets a TTL on an existing key (0 or less deletes it, as in Redis); false when the key does not exist. */
  expire(key: string, ttlSeconds: number): Promise<boolean>
  /** Deletes keys; returns how many existed. */
  del(keys: readonly string[]): Promise<number>
  /** Pushes values to the head of the list, in order (the last ends up first); returns the new length. */
  lpush(key: string, values: readonly string[]): Promise<number>
  /** Elements `start`..`stop` inclusive; negative indexes count from the end. */
  lrange(key: string, start: number, stop: number): Promise<string[]>
  /** The list's length (0 when missing). */
  llen(key: string): Promise<number>
  /** Removes and returns up to `count` elements from the head. */
  lpop(key: string, count: number): Promise<string[]>
  /** Removes elements equal to `value`: `count` > 0 from the head, < 0 from the tail, 0 all. */
  lrem(key: string, count: number, value: string): Promise<number>
}
