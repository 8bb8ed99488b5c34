import type { Readable, Writable } from 'node:stream'

/** The streams and folder a command runs with; `main.ts` passes the process's own. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean }
  stdout: Writable
  stderr: Writable
  /** Relative paths in arguments resolve against this folder. */
  cwd: string
  /** Environment variables; only `sluice serve` reads them (its settings). */
  env?: Readonly<Record<string, string | undefined>>
}

/** Writes text and resolves once the stream took it (backpressure), rejecting on a stream error. */
export function writeTo(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (error) => (error ? reject(error) : resolve()))
  })
}
