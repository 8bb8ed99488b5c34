/**
 * A positive int32 derived from a test namespace, for ports that scope data by numeric ids (team and
 * config ids): distinct namespaces give distinct numbers with overwhelming probability, and the
 * result leaves room for `+ small offsets` below 2^31.
 */
export function namespaceNumber(namespace: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < namespace.length; i++) {
    hash ^= namespace.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return 1_000_000 + ((hash >>> 0) % 2_000_000_000)
}
