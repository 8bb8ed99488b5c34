// The process entry of the `sluice` command (bin/sluice.mjs loads it): the only file that touches
// `process`. Only `sluice serve` reads environment variables (the server's settings).
import { runCli } from './cli.js'
import type { CliIo } from './io.js'

const io: CliIo = {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  env: process.env,
}

// A closed stdout (`sluice run … | head`) surfaces as a failed write in the command, not a crash.
process.stdout.on('error', () => {})

const code = await runCli(process.argv.slice(2), io).catch((error: unknown) => {
  process.stderr.write(
    `sluice: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  )
  return 1
})
// Exit once stdout has taken everything: an isolate or a paused stdin must not keep the process up.
process.stdout.write('', () => process.exit(code))
