import { describeStorageConformance } from '@sluice/conformance'
import { StorageError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createMemoryStorage, createMemoryStorageStore, memoryStorageCapabilities } from './storage.js'

describeStorageConformance('memory', () => createMemoryStorage(), memoryStorageCapabilities)

// A store outlives the storages over it and is seen by all of them, like a database, so the
// durability and shared-instance cases run here too. The suite namespaces its scopes.
const sharedStore = createMemoryStorageStore()
describeStorageConformance('memory over a shared store', () => createMemoryStorage({ store: sharedStore }), {
  durable: true,
  sharedAcrossInstances: true,
})

describe('createMemoryStorage', () => {
  const rejection = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    )

  it('declares that it is neither durable nor shared', () => {
    expect(createMemoryStorage().capabilities).toEqual({ durable: false, sharedAcrossInstances: false })
  })

  it('storages without a shared store do not see each other', async () => {
    const a = createMemoryStorage()
    await a.set('s', 'k', '1')
    expect(await createMemoryStorage().get('s', 'k')).toBeNull()
  })

  it('set and setIfAbsent reject text that is not JSON, storing nothing', async () => {
    const storage = createMemoryStorage()
    for (const write of [storage.set('s', 'k', 'not json'), storage.setIfAbsent('s', 'k', '{')]) {
      const error = await rejection(write)
      expect(error).toBeInstanceOf(StorageError)
      expect(error).toMatchObject({ retryable: false, code: 'storage.invalid_json' })
    }
    expect(await storage.get('s', 'k')).toBeNull()
  })

  it('increment rejects a non-finite amount and invalid stored JSON', async () => {
    const storage = createMemoryStorage()
    expect(await rejection(storage.increment('s', 'n', Number.NaN))).toMatchObject({
      code: 'storage.invalid_increment',
      retryable: false,
    })
    await storage.set('s', 'big', String(Number.MAX_VALUE))
    expect(await rejection(storage.increment('s', 'big', Number.MAX_VALUE))).toMatchObject({
      code: 'storage.overflow',
    })
    expect(await rejection(storage.increment('s', 'n', Number.POSITIVE_INFINITY))).toBeInstanceOf(
      StorageError,
    )
    expect(await storage.get('s', 'n')).toBeNull()
  })

  it('the not-a-number error says what was stored and what to do', async () => {
    const storage = createMemoryStorage()
    await storage.set('scope', 'key', '"text"')
    expect(await rejection(storage.increment('scope', 'key', 1))).toMatchObject({
      code: 'storage.not_a_number',
      message: expect.stringMatching(/scope\/key.*"text".*not a JSON number/),
    })
  })
})
