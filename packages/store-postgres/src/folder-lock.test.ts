import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LOCK_FILE, lockFolder } from './folder-lock.js'
import { createPostgresStore } from './index.js'

const folder = await mkdtemp(join(tmpdir(), 'sluice-lock-'))
afterAll(() => rm(folder, { recursive: true, force: true }))

/** The id of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid as number

describe('lockFolder', () => {
  it('refuses a folder this or another live process holds, naming the holder and the lock file, until released', async () => {
    const dir = join(folder, 'held')
    const release = await lockFolder(dir)
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n${hostname()}\n`)
    await expect(lockFolder(dir)).rejects.toMatchObject({
      code: 'postgres.folder_in_use',
      message: expect.stringContaining(
        `in use by this process: stop that server, or give this one another data folder. If no server uses it, delete ${join(dir, LOCK_FILE)}`,
      ),
    })
    await writeFile(join(dir, LOCK_FILE), `1\n${hostname()}\n`)
    await expect(lockFolder(dir)).rejects.toThrow(`in use by process 1 on ${hostname()}`)
    await writeFile(join(dir, LOCK_FILE), `${process.pid}\n${hostname()}\n`)
    await release()
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
    await (await lockFolder(dir))()
  })

  it('takes over a lock left by a process that is gone, and refuses one from another machine', async () => {
    const dir = join(folder, 'stale')
    await (await lockFolder(dir))()
    await writeFile(join(dir, LOCK_FILE), `${deadPid()}\n${hostname()}\n`)
    const release = await lockFolder(dir)
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n${hostname()}\n`)
    await release()
    await writeFile(join(dir, LOCK_FILE), `${process.pid}\nanother-host\n`)
    await expect(lockFolder(dir)).rejects.toThrow(`in use by process ${process.pid} on another-host`)
  })
})

it('keeps a second store off an embedded database that is open, and lets it in once the first closed', {
  timeout: 60_000,
}, async () => {
  const dataDir = join(folder, 'db')
  const first = await createPostgresStore({ dataDir })
  await expect(createPostgresStore({ dataDir })).rejects.toMatchObject({ code: 'postgres.folder_in_use' })
  await first.close()
  const second = await createPostgresStore({ dataDir })
  expect(second.appliedMigrations).toEqual([])
  await second.close()
})
