import { type Storage, type StorageCapabilities, StorageError } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/**
 * The {@link Storage} conformance suite: scoped JSON key/value storage, `setIfAbsent`, atomic
 * `increment`, and the `meta.utils.cursor` semantics core derives from them.
 *
 * Values are compared as parsed JSON: an adapter over a JSON column may normalise whitespace.
 * @example
 * describeStorageConformance('memory', () => createMemoryStorage(), memoryStorageCapabilities)
 */
export function describeStorageConformance<T extends Storage>(
  name: string,
  factory: AdapterFactory<T>,
  capabilities: StorageCapabilities,
  options: SuiteOptions<T> = {},
): void {
  describe(`Storage conformance: ${name}`, () => {
    // The durability case closes an instance before the test ends; never close one twice.
    const closed = new WeakSet<T>()
    const closeOnce = async (adapter: T) => {
      if (!options.close || closed.has(adapter)) return
      closed.add(adapter)
      await options.close(adapter)
    }
    const harness = createSuiteHarness(factory, { ...options, close: closeOnce })
    let env: SuiteEnv
    let storage: T
    const scope = (suffix: string) => `${env.namespace}${suffix}`
    const json = async (instance: Storage, scopeName: string, key: string): Promise<unknown> => {
      const text = await instance.get(scopeName, key)
      return text === null ? undefined : JSON.parse(text)
    }

    beforeEach(async () => {
      env = harness.begin()
      storage = await harness.create()
    })
    afterEach(() => harness.end())

    describe('get, set, delete', () => {
      it('get of a missing key is null', async () => {
        expect(await storage.get(scope('s'), 'missing')).toBeNull()
      })

      it('set then get returns the JSON value', async () => {
        const values: unknown[] = [
          'text',
          42,
          -1.5,
          true,
          { nested: { list: [1, 'two', null], unicode: 'ünïcødé 🦔 日本語' } },
          [],
          '',
        ]
        for (const [index, value] of values.entries()) {
          await storage.set(scope('s'), `k${index}`, JSON.stringify(value))
          expect(await json(storage, scope('s'), `k${index}`)).toEqual(value)
        }
      })

      it('a stored JSON null is returned as the text "null", not as missing', async () => {
        await storage.set(scope('s'), 'k', 'null')
        expect(await storage.get(scope('s'), 'k')).toBe('null')
      })

      it('set replaces an existing value', async () => {
        await storage.set(scope('s'), 'k', '"first"')
        await storage.set(scope('s'), 'k', '{"second":2}')
        expect(await json(storage, scope('s'), 'k')).toEqual({ second: 2 })
      })

      it('delete removes the key and leaves others', async () => {
        await storage.set(scope('s'), 'gone', '1')
        await storage.set(scope('s'), 'kept', '2')
        await storage.delete(scope('s'), 'gone')
        expect(await storage.get(scope('s'), 'gone')).toBeNull()
        expect(await json(storage, scope('s'), 'kept')).toBe(2)
      })

      it('delete of a missing key resolves', async () => {
        await expect(storage.delete(scope('s'), 'missing')).resolves.toBeUndefined()
      })

      it('scopes are isolated: the same key in two scopes holds two values', async () => {
        await storage.set(scope('a'), 'k', '"in a"')
        await storage.set(scope('b'), 'k', '"in b"')
        expect(await json(storage, scope('a'), 'k')).toBe('in a')
        expect(await json(storage, scope('b'), 'k')).toBe('in b')
        await storage.delete(scope('a'), 'k')
        expect(await storage.get(scope('a'), 'k')).toBeNull()
        expect(await json(storage, scope('b'), 'k')).toBe('in b')
        expect(await storage.increment(scope('c'), 'k', 1)).toBe(1)
        expect(await json(storage, scope('b'), 'k')).toBe('in b')
      })
    })

    describe('setIfAbsent', () => {
      it('sets a missing key once: true, then false without changing the value', async () => {
        expect(await storage.setIfAbsent(scope('s'), 'k', '"first"')).toBe(true)
        expect(await storage.setIfAbsent(scope('s'), 'k', '"second"')).toBe(false)
        expect(await json(storage, scope('s'), 'k')).toBe('first')
      })

      it('does not replace a value written by set', async () => {
        await storage.set(scope('s'), 'k', '1')
        expect(await storage.setIfAbsent(scope('s'), 'k', '2')).toBe(false)
        expect(await json(storage, scope('s'), 'k')).toBe(1)
      })

      it('sets again after delete', async () => {
        await storage.setIfAbsent(scope('s'), 'k', '1')
        await storage.delete(scope('s'), 'k')
        expect(await storage.setIfAbsent(scope('s'), 'k', '2')).toBe(true)
        expect(await json(storage, scope('s'), 'k')).toBe(2)
      })

      it('is atomic: of 20 concurrent calls exactly one wins and its value is stored', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => storage.setIfAbsent(scope('s'), 'k', String(i))),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await json(storage, scope('s'), 'k')).toBe(results.indexOf(true))
      })
    })

    describe('increment', () => {
      it('increment of a missing key counts from 0 and stores the result', async () => {
        expect(await storage.increment(scope('s'), 'n', 5)).toBe(5)
        expect(await json(storage, scope('s'), 'n')).toBe(5)
      })

      it('increment adds to an existing number, including negative and fractional amounts', async () => {
        await storage.set(scope('s'), 'n', '10')
        expect(await storage.increment(scope('s'), 'n', 3)).toBe(13)
        expect(await storage.increment(scope('s'), 'n', -20)).toBe(-7)
        expect(await storage.increment(scope('s'), 'n', 0)).toBe(-7)
        await storage.set(scope('s'), 'f', '1.5')
        expect(await storage.increment(scope('s'), 'f', 1)).toBe(2.5)
        expect(await json(storage, scope('s'), 'n')).toBe(-7)
        expect(await json(storage, scope('s'), 'f')).toBe(2.5)
      })

      it.each([
        ['a string', '"12"'],
        ['an object', '{"n":1}'],
        ['an array', '[1]'],
        ['a boolean', 'true'],
        ['null', 'null'],
      ])(
        'increment of %s rejects with a non-retryable StorageError and keeps the value',
        async (_, value) => {
          await storage.set(scope('s'), 'k', value)
          const error = await storage.increment(scope('s'), 'k', 1).then(
            () => undefined,
            (rejection: unknown) => rejection,
          )
          expect(error).toBeInstanceOf(StorageError)
          expect((error as StorageError).retryable).toBe(false)
          expect(JSON.parse((await storage.get(scope('s'), 'k')) ?? 'undefined')).toEqual(JSON.parse(value))
        },
      )

      it('100 concurrent increments are atomic: exact total, every intermediate value returned once', async () => {
        const results = await Promise.all(
          Array.from({ length: 100 }, () => storage.increment(scope('s'), 'n', 1)),
        )
        expect(await json(storage, scope('s'), 'n')).toBe(100)
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
      })
    })

    // How core builds `meta.utils.cursor` on this port: init(key, initial) is
    // setIfAbsent(scope, key, initial) and increment(key, by) is increment(scope, key, by).
    describe('cursor semantics', () => {
      const init = (key: string, initial = 0) =>
        storage.setIfAbsent(scope('cursor'), key, JSON.stringify(initial))
      const increment = (key: string, by = 1) => storage.increment(scope('cursor'), key, by)

      it('init then increment counts up from the initial value', async () => {
        await init('c', 10)
        expect(await increment('c')).toBe(11)
        expect(await increment('c', 5)).toBe(16)
      })

      it('init does not reset a cursor that already exists', async () => {
        await init('c')
        await increment('c')
        await increment('c')
        expect(await init('c', 100)).toBe(false)
        expect(await increment('c')).toBe(3)
      })

      it('concurrent inits and increments from many callers hand out every value exactly once', async () => {
        const inits = await Promise.all(Array.from({ length: 10 }, () => init('c', 0)))
        expect(inits.filter(Boolean)).toHaveLength(1)
        const handedOut = await Promise.all(Array.from({ length: 50 }, () => increment('c')))
        expect(new Set(handedOut).size).toBe(50)
        expect(Math.max(...handedOut)).toBe(50)
      })

      it('the cursor scope is separate from a storage scope with the same key', async () => {
        await storage.set(scope('storage'), 'c', '"plugin value"')
        await init('c', 0)
        expect(await increment('c')).toBe(1)
        expect(await json(storage, scope('storage'), 'c')).toBe('plugin value')
      })
    })

    // Process-local adapters lose data on restart; the memory adapter's own tests run this
    // group over a store that outlives the instance.
    describe.runIf(capabilities.durable)('durability', () => {
      it('values survive closing the instance and opening a new one', async () => {
        await storage.set(scope('s'), 'k', '{"kept":true}')
        await storage.increment(scope('s'), 'n', 7)
        await closeOnce(storage)
        const reopened = await harness.create()
        expect(await json(reopened, scope('s'), 'k')).toEqual({ kept: true })
        expect(await reopened.increment(scope('s'), 'n', 1)).toBe(8)
      })
    })

    // Process-local adapters cannot share; the memory adapter's own tests run this group over
    // one shared store.
    describe.runIf(capabilities.sharedAcrossInstances)('across instances', () => {
      it('two instances see each other’s writes and deletes', async () => {
        const other = await harness.create()
        await storage.set(scope('s'), 'k', '"from a"')
        expect(await json(other, scope('s'), 'k')).toBe('from a')
        await other.delete(scope('s'), 'k')
        expect(await storage.get(scope('s'), 'k')).toBeNull()
      })

      it('setIfAbsent is atomic across instances', async () => {
        const other = await harness.create()
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? storage : other).setIfAbsent(scope('s'), 'k', String(i)),
          ),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await json(other, scope('s'), 'k')).toBe(results.indexOf(true))
      })

      it('increments are atomic across instances', async () => {
        const other = await harness.create()
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            (i % 2 === 0 ? storage : other).increment(scope('s'), 'n', 1),
          ),
        )
        expect(await json(storage, scope('s'), 'n')).toBe(100)
        expect(new Set(results).size).toBe(100)
      })
    })
  })
}
