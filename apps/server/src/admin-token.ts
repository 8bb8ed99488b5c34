import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Checks presented admin tokens; knows only a hash when the token was generated earlier. */
export interface AdminTokenCheck {
  verify(presented: string): boolean
  /** The token in clear, only on the start that generated it (to print it once). */
  readonly generated: string | null
  /** Where the hash is kept, for the "lost it?" hint. */
  readonly hashFile: string | null
}

const sha256 = (text: string) => createHash('sha256').update(text).digest()

const verifier = (expected: Buffer) => (presented: string) => timingSafeEqual(sha256(presented), expected)

/**
 * The admin token: the configured one, else the one generated on an earlier start (only its
 * SHA-256 is stored, in `<dataDir>/admin-token.sha256`), else a new random one whose hash is stored
 * now and which is returned in `generated` so the caller prints it this once.
 */
export async function loadAdminToken(configured: string | null, dataDir: string): Promise<AdminTokenCheck> {
  if (configured !== null) return { verify: verifier(sha256(configured)), generated: null, hashFile: null }
  const hashFile = join(dataDir, 'admin-token.sha256')
  try {
    const stored = Buffer.from((await readFile(hashFile, 'utf8')).trim(), 'hex')
    if (stored.length === 32) return { verify: verifier(stored), generated: null, hashFile }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const token = `sluice_${randomBytes(24).toString('base64url')}`
  await mkdir(dataDir, { recursive: true })
  await writeFile(hashFile, `${sha256(token).toString('hex')}\n`, { mode: 0o600 })
  return { verify: verifier(sha256(token)), generated: token, hashFile }
}
