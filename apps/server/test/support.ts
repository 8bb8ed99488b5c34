import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { loadServerConfig } from '../src/config.js'
import { createJsonLogger } from '../src/logger.js'
import { type SluiceServer, startServer } from '../src/server.js'
import { type AdminReply, callAdmin } from './admin-client.js'

/**
 * Polls `probe` until it returns something other than undefined or false, and fails after
 * `timeoutMs` naming `what` it waited for (and what `describe` says was seen, if given).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  describe?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${describe()}` : ''}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The admin token test servers are started with. */
export const ADMIN_TOKEN = 'test-admin-token-0123456789'

/** A server on the embedded default in a temporary data folder, its event file and its log lines. */
export interface TestServer {
  server: SluiceServer
  dataDir: string
  eventsFile: string
  logs: string[]
  /** The processed events written so far. */
  events(): Promise<Record<string, unknown>[]>
  /** Waits until at least `count` processed events were written. */
  waitForEvents(count: number, timeoutMs?: number): Promise<Record<string, unknown>[]>
  /** An admin API call with the test token. */
  admin(method: string, path: string, body?: unknown): Promise<AdminReply>
  stop(): Promise<void>
}

/** Starts a server with `env` over the embedded defaults (port 0, a temporary data folder). */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-server-'))
  const eventsFile = join(dataDir, 'out.jsonl')
  const config = loadServerConfig(
    {
      SLUICE_PORT: '0',
      SLUICE_DATA_DIR: dataDir,
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_SINKS: `file:${eventsFile}`,
      ...env,
    },
    dataDir,
  )
  const logs: string[] = []
  const stream = new PassThrough()
  stream.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)))
  const server = await startServer(config, createJsonLogger({ stream, level: 'debug', instanceId: 'test' }))
  const events = async () => {
    const text = await readFile(eventsFile, 'utf8').catch(() => '')
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
  }
  return {
    server,
    dataDir,
    eventsFile,
    logs,
    events,
    async waitForEvents(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const written = await events()
        if (written.length >= count) return written
        if (Date.now() > deadline) throw new Error(`only ${written.length} of ${count} events arrived`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    admin: (method, path, body) => callAdmin(server.url, ADMIN_TOKEN, method, path, body),
    async stop() {
      await server.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
