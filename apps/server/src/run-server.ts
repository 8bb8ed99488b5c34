import { existsSync, readdirSync } from 'node:fs'
import type { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { describeError } from '@sluice/core'
import { ConfigError, loadServerConfig } from './config.js'
import { createJsonLogger } from './logger.js'
import { type SluiceServer, startServer } from './server.js'

/** Where `runServer` reads its settings and writes. */
export interface RunServerIo {
  env: Readonly<Record<string, string | undefined>>
  cwd: string
  /** Logs (JSON lines) and the start banner; stdout stays free for the stdout sink. */
  stderr: Writable
}

const EXAMPLES = fileURLToPath(new URL('../../../examples/plugins/', import.meta.url))

const exampleFolders = (): string[] =>
  existsSync(EXAMPLES)
    ? readdirSync(EXAMPLES, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(`${EXAMPLES}${entry.name}/plugin.json`))
        .map((entry) => `${EXAMPLES}${entry.name}`)
    : []

/**
 * Reads the configuration from the environment, starts the server and prints where it listens, the
 * admin token (only on the start that generated it) and how to install the example plugins.
 * Exits the process with code 2 when the configuration is invalid. On SIGTERM or SIGINT it shuts
 * down gracefully and exits 0; a shutdown longer than `SLUICE_SHUTDOWN_TIMEOUT_MS`, or a second
 * signal, exits 1 at once.
 */
export async function runServer(io: RunServerIo): Promise<SluiceServer> {
  let config: ReturnType<typeof loadServerConfig>
  try {
    config = loadServerConfig(io.env, io.cwd)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    io.stderr.write(`sluice: ${error.message}\n`)
    process.exit(2)
  }
  const log = createJsonLogger({
    stream: io.stderr,
    level: config.logLevel,
    instanceId: config.instanceId ?? `pid-${process.pid}`,
  })
  const server = await startServer(config, log).catch((error: unknown) => {
    io.stderr.write(`sluice: the server could not start: ${describeError(error)}\n`)
    process.exit(1)
  })
  const lines = [
    '',
    `Sluice is listening on ${server.url}`,
    `  capture:  POST ${server.url}/batch/   (PostHog SDKs: set the host to ${server.url})`,
    `  admin:    ${server.url}/api/   (Authorization: Bearer <admin token>)`,
    `  data:     ${config.databaseUrl === null ? `${config.dataDir} (embedded)` : 'DATABASE_URL'}`,
  ]
  if (server.adminToken.generated !== null) {
    lines.push(
      '',
      `Admin token (shown this once; only its hash is kept in ${server.adminToken.hashFile}):`,
      `  ${server.adminToken.generated}`,
    )
  } else if (server.adminToken.hashFile !== null) {
    lines.push(
      `  admin token: generated on the first start; lost it? delete ${server.adminToken.hashFile} and restart`,
    )
  }
  const examples = exampleFolders()
  if (examples.length > 0) {
    lines.push('', 'Example plugins, ready to install:')
    for (const folder of examples) {
      lines.push(
        `  curl -X POST ${server.url}/api/plugins -H "authorization: Bearer $SLUICE_ADMIN_TOKEN" -H 'content-type: application/json' -d '{"path":"${folder}"}'`,
      )
    }
  }
  io.stderr.write(`${lines.join('\n')}\n\n`)

  let signalled = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.error('second signal: exiting without finishing the shutdown', { signal })
      process.exit(1)
    }
    signalled = true
    log.info('signal received: shutting down', { signal })
    const deadline = setTimeout(() => {
      log.error('shutdown took longer than SLUICE_SHUTDOWN_TIMEOUT_MS: exiting', {
        timeoutMs: config.shutdownTimeoutMs,
      })
      process.exit(1)
    }, config.shutdownTimeoutMs)
    deadline.unref()
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('shutdown failed', { error: describeError(error) })
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return server
}
