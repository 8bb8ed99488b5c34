// Test support: plugin folders in a temp dir, the real `sluice` process, and a tarball writer.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const bin = join(import.meta.dirname, '..', 'bin', 'sluice.mjs')

/** A fresh temp folder for one test file. */
export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-cli-'))
}

/** Writes files (path → text or bytes) under `root/name` and returns that folder. */
export function writeFiles(root: string, name: string, files: Record<string, string | Uint8Array>): string {
  const folder = join(root, name)
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true })
    writeFileSync(join(folder, path), contents)
  }
  return folder
}

/** What a finished `sluice` process left behind. */
export interface SluiceResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real `sluice` bin (no build: the launcher runs the TypeScript source). */
export function sluice(args: readonly string[], options: { stdin?: string; cwd?: string } = {}) {
  return new Promise<SluiceResult>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.on('error', () => {})
    child.stdin.end(options.stdin ?? '')
  })
}

/** Starts `sluice` with stdin left open: for tests that write input while it runs. */
export function startSluice(args: readonly string[], options: { cwd?: string } = {}) {
  return spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? tmpdir(),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

/** The JSON lines of a run's stdout. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** Input JSONL from event objects. */
export function jsonl(...events: unknown[]): string {
  return events.map((event) => `${JSON.stringify(event)}\n`).join('')
}

// The archive writer the plugin reader's own tests use: one copy of the tar layout.
export { tgz } from '../../../packages/plugin-files/test/helpers.js'
