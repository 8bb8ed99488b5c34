/**
 * Per-key ordering (per-user ordering of SPEC's pipeline): items that share a key run one after
 * another in their original order; items with different keys may run concurrently.
 */

/**
 * Splits items into lanes by key. Lanes appear in the order their key first appears; items keep
 * their order within a lane.
 *
 * @example
 * groupIntoLanes(['a1', 'b1', 'a2'], (s) => s[0]) // [['a1', 'a2'], ['b1']]
 */
export function groupIntoLanes<T>(items: readonly T[], keyOf: (item: T) => string): T[][] {
  const lanes = new Map<string, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const lane = lanes.get(key)
    if (lane === undefined) lanes.set(key, [item])
    else lane.push(item)
  }
  return [...lanes.values()]
}

/**
 * How many items the longest lane holds (0 for none): how many calls must run one after another.
 *
 * @example
 * longestLane(['a1', 'b1', 'a2'], (s) => s[0]) // 2
 */
export function longestLane<T>(items: readonly T[], keyOf: (item: T) => string): number {
  const sizes = new Map<string, number>()
  let longest = 0
  for (const item of items) {
    const key = keyOf(item)
    const size = (sizes.get(key) ?? 0) + 1
    sizes.set(key, size)
    if (size > longest) longest = size
  }
  return longest
}

/**
 * Splits items into chunks of about `size` items that never split a lane, so chunks can run
 * concurrently without breaking per-key order. Lanes fill chunks in the order their key first
 * appears; items keep their original order within a chunk. Up to 1.5 × `size` items stay one
 * chunk.
 *
 * @example
 * chunkLanes(['a1', 'b1', 'a2', 'c1'], (s) => s[0], 1) // [['a1', 'a2'], ['b1'], ['c1']]
 */
export function chunkLanes<T>(items: readonly T[], keyOf: (item: T) => string, size: number): T[][] {
  if (items.length <= size * 1.5) return [[...items]]
  const chunkOf = new Map<string, number>()
  let chunk = 0
  let filled = 0
  for (const lane of groupIntoLanes(items, keyOf)) {
    if (filled >= size) {
      chunk += 1
      filled = 0
    }
    chunkOf.set(keyOf(lane[0] as T), chunk)
    filled += lane.length
  }
  const chunks: T[][] = Array.from({ length: chunk + 1 }, () => [])
  for (const item of items) chunks[chunkOf.get(keyOf(item)) as number]?.push(item)
  return chunks
}

/**
 * Runs every item: the items of one lane strictly one after another, up to `concurrency` lanes
 * at a time, lanes started in array order.
 *
 * If `run` rejects (or throws), no further item or lane is started; the items already running
 * in other lanes are awaited, then the returned promise rejects with the first error. Later
 * errors from those in-flight items are dropped. Callers that must not stop on one item's
 * failure should catch inside `run`.
 *
 * @param concurrency How many lanes may run at once: a whole number ≥ 1, or `Infinity`.
 * @throws RangeError (as a rejection) when `concurrency` is invalid.
 */
export async function runLanes<T>(
  lanes: readonly (readonly T[])[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  if (!(Number.isInteger(concurrency) || concurrency === Number.POSITIVE_INFINITY) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number ≥ 1 or Infinity, got ${concurrency}`)
  }
  let nextLane = 0
  let failure: { error: unknown } | undefined

  const worker = async (): Promise<void> => {
    while (failure === undefined && nextLane < lanes.length) {
      const lane = lanes[nextLane++] ?? []
      for (const item of lane) {
        if (failure !== undefined) return
        try {
          await run(item)
        } catch (error) {
          failure ??= { error }
          return
        }
      }
    }
  }

  const workers = Math.min(concurrency, lanes.length)
  await Promise.all(Array.from({ length: workers }, worker))
  if (failure !== undefined) throw failure.error
}
