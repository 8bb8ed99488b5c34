import { Redis } from 'ioredis'

/** The shared test Redis. */
export const TEST_REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A key prefix unique to this test file's run, so its keys can be swept afterwards. */
export function runPrefix(name: string): string {
  return `sluice-test:${name}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}:`
}

/** A plain client for looking at Redis from outside the adapters. */
export function rawClient(url = TEST_REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  return client
}

/** Deletes every key under `prefix`. */
export async function sweep(client: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    if (keys.length > 0) await client.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

/** Seconds since the Redis behind `client` started. */
export async function uptimeSeconds(client: Redis): Promise<number> {
  const info = await client.info('server')
  return Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? Number.NaN)
}

/**
 * Waits until Redis has been up `seconds`: the lock grants no free lock on a Redis younger than
 * the TTL plus one second (its restart guard), and the suites use 1 s TTLs.
 */
export async function waitForUptime(client: Redis, seconds: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await uptimeSeconds(client)) < seconds) {
    if (Date.now() > deadline) throw new Error(`Redis not up for ${seconds} s within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Polls `check` every few ms until it holds, or fails after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
