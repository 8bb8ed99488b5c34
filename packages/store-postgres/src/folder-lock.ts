import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { SluiceError } from '@sluice/core'

/** The file in an embedded database's folder that says which process has it open. */
export const LOCK_FILE = 'sluice-store.lock'

/** Whether a process with this id runs on this machine. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const readHolder = async (path: string): Promise<{ text: string; pid: number; host: string } | null> => {
  try {
    const text = await readFile(path, 'utf8')
    const [pid = '', host = ''] = text.split('\n')
    return { text, pid: Number(pid), host }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/**
 * Takes the folder of an embedded database for this process. PGlite opens a folder however many
 * processes (or instances in one process) already have it open, and two writers corrupt it, so
 * the store holds a lock file for as long as it is open. A lock left by a process that no longer
 * runs on this machine is taken over; one held by a live process (this one included) is refused
 * with a `postgres.folder_in_use` error naming it. Resolves to the release function.
 */
export async function lockFolder(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, LOCK_FILE)
  const mine = `${process.pid}\n${hostname()}\n`
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, mine, { flag: 'wx', mode: 0o600 })
      return async () => {
        const holder = await readHolder(path).catch(() => null)
        if (holder?.text === mine) await unlink(path).catch(() => {})
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readHolder(path)
    if (holder === null) continue
    const sameHost = holder.host === hostname()
    if (!sameHost || (Number.isInteger(holder.pid) && holder.pid > 0 && alive(holder.pid))) {
      const who =
        holder.pid === process.pid && sameHost ? 'this process' : `process ${holder.pid} on ${holder.host}`
      throw new SluiceError(
        `the embedded database in ${dir} is in use by ${who}: stop that server, or give this one another data folder. If no server uses it, delete ${path}`,
        { retryable: false, code: 'postgres.folder_in_use', component: 'postgres' },
      )
    }
    // Left by a process that is gone: take it over, unless another starter replaced it meanwhile.
    const again = await readHolder(path)
    if (again?.text === holder.text) await unlink(path).catch(() => {})
  }
  throw new SluiceError(`could not take the lock ${path}: other processes keep replacing it`, {
    retryable: true,
    code: 'postgres.folder_in_use',
    component: 'postgres',
  })
}
