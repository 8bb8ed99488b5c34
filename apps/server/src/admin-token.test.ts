import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadAdminToken } from './admin-token.js'

describe('loadAdminToken', () => {
  let dir = ''
  afterEach(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('generates a token once, keeps only its hash, and accepts it on later starts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-token-'))
    const first = await loadAdminToken(null, dir)
    const token = first.generated as string
    expect(token).toMatch(/^sluice_[\w-]{32}$/)
    const stored = await readFile(join(dir, 'admin-token.sha256'), 'utf8')
    expect(stored).not.toContain(token)
    const second = await loadAdminToken(null, dir)
    expect(second.generated).toBeNull()
    expect(second.verify(token)).toBe(true)
    expect(second.verify(`${token}x`)).toBe(false)
  })

  it('uses the configured token and writes nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-token-'))
    const check = await loadAdminToken('configured-token-0123456789', dir)
    expect(check).toMatchObject({ generated: null, hashFile: null })
    expect(check.verify('configured-token-0123456789')).toBe(true)
    expect(check.verify('')).toBe(false)
    await expect(readFile(join(dir, 'admin-token.sha256'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
