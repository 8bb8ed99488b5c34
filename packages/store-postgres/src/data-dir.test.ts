import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { createPostgresStore } from './index.js'

// The embedded default: a store that opens PGlite in a folder itself. Opening takes seconds, so one
// test covers the whole life cycle.
const folder = await mkdtemp(join(tmpdir(), 'sluice-pglite-'))
afterAll(() => rm(folder, { recursive: true, force: true }))

it('keeps everything in its data folder across close and reopen, migrating only the first time', {
  timeout: 60_000,
}, async () => {
  const dataDir = join(folder, 'data')
  const first = await createPostgresStore({ dataDir })
  expect(first.appliedMigrations).toEqual([1])
  expect(first.storage.capabilities).toEqual({ durable: true, sharedAcrossInstances: false })
  const plugin = await first.registry.createPlugin({ name: 'p', version: 'v1', files: { 'index.js': '' } })
  await first.storage.set('scope', 'key', '{"kept":true}')
  const [jobId] = await first.jobQueue.enqueue([
    { kind: 'plugin-job', configId: null, name: 'later', payload: '{}', runAt: 1 },
  ])
  await first.close()

  const reopened = await createPostgresStore({ dataDir })
  try {
    expect(reopened.appliedMigrations).toEqual([])
    expect(await reopened.registry.getPlugin(plugin.id)).toEqual(plugin)
    expect(await reopened.storage.get('scope', 'key')).toBe('{"kept": true}')
    const claimed = await reopened.jobQueue.claim({ now: 2, limit: 5, owner: 'me', leaseMs: 1_000 })
    expect(claimed.map((job) => job.id)).toEqual([jobId])
  } finally {
    await reopened.close()
  }
})
