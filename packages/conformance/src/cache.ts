import type { Cache, CacheCapabilities } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type AdapterFactory, createSuiteHarness, type SuiteEnv, type SuiteOptions } from './support.js'

/** TTLs are whole seconds (Redis EX); waiting this long makes a 1 s TTL lapse under real time too. */
const TTL_SECONDS = 1
const PAST_TTL_MS = 1200
const WITHIN_TTL_MS = 500

/**
 * The {@link Cache} conformance suite: Redis semantics for strings, TTLs and lists.
 * @example
 * describeCacheConformance('memory', ({ time }) => createMemoryCache({ clock: time.clock }), memoryCacheCapabilities)
 */
export function describeCacheConformance<T extends Cache>(
  name: string,
  factory: AdapterFactory<T>,
  capabilities: CacheCapabilities,
  options: SuiteOptions<T> = {},
): void {
  describe(`Cache conformance: ${name}`, { timeout: options.time === 'real' ? 20_000 : 5_000 }, () => {
    const harness = createSuiteHarness(factory, options)
    let env: SuiteEnv
    let cache: T
    const key = (suffix: string) => `${env.namespace}${suffix}`

    beforeEach(async () => {
      env = harness.begin()
      cache = await harness.create()
    })
    afterEach(() => harness.end())

    describe('strings', () => {
      it('get of a missing key is null', async () => {
        expect(await cache.get(key('missing'))).toBeNull()
      })

      it('set then get returns the exact string', async () => {
        const values = ['plain', '', '{"json":[1,2]}', 'ünïcødé 🦔 日本語', ' spaced \n lines ']
        for (const [index, value] of values.entries()) {
          await cache.set(key(`s${index}`), value)
          expect(await cache.get(key(`s${index}`))).toBe(value)
        }
      })

      it('set replaces an existing value', async () => {
        await cache.set(key('k'), 'first')
        await cache.set(key('k'), 'second')
        expect(await cache.get(key('k'))).toBe('second')
      })

      it('get of a list key is null (not a string)', async () => {
        await cache.lpush(key('list'), ['a'])
        expect(await cache.get(key('list'))).toBeNull()
      })

      it('getMany returns values in key order, null where missing or not a string', async () => {
        await cache.set(key('a'), '1')
        await cache.set(key('c'), '3')
        await cache.lpush(key('list'), ['x'])
        expect(await cache.getMany([key('c'), key('missing'), key('a'), key('list'), key('c')])).toEqual([
          '3',
          null,
          '1',
          null,
          '3',
        ])
      })

      it('getMany of no keys is an empty array', async () => {
        expect(await cache.getMany([])).toEqual([])
      })
    })

    describe('TTL', () => {
      it('set with a TTL keeps the value until the TTL passes, then behaves as missing', async () => {
        await cache.set(key('k'), 'v', TTL_SECONDS)
        await env.time.advance(WITHIN_TTL_MS)
        expect(await cache.get(key('k'))).toBe('v')
        await env.time.advance(PAST_TTL_MS - WITHIN_TTL_MS)
        expect(await cache.get(key('k'))).toBeNull()
        expect(await cache.getMany([key('k')])).toEqual([null])
        expect(await cache.expire(key('k'), 10)).toBe(false)
        expect(await cache.del([key('k')])).toBe(0)
      })

      it('set without a TTL clears an earlier TTL', async () => {
        await cache.set(key('k'), 'short-lived', TTL_SECONDS)
        await cache.set(key('k'), 'kept')
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('k'))).toBe('kept')
      })

      it('set with a new TTL replaces the earlier one', async () => {
        await cache.set(key('k'), 'v1', 60)
        await cache.set(key('k'), 'v2', TTL_SECONDS)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('k'))).toBeNull()
      })

      it('expire sets a TTL on an existing key and returns true', async () => {
        await cache.set(key('k'), 'v')
        expect(await cache.expire(key('k'), TTL_SECONDS)).toBe(true)
        expect(await cache.get(key('k'))).toBe('v')
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('k'))).toBeNull()
      })

      it('expire can extend a TTL', async () => {
        await cache.set(key('k'), 'v', TTL_SECONDS)
        expect(await cache.expire(key('k'), 60)).toBe(true)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('k'))).toBe('v')
      })

      it('expire of a missing key returns false and creates nothing', async () => {
        expect(await cache.expire(key('missing'), 60)).toBe(false)
        expect(await cache.get(key('missing'))).toBeNull()
        expect(await cache.llen(key('missing'))).toBe(0)
      })
    })

    describe('incr', () => {
      it('incr of a missing key counts from 0 and stores the result', async () => {
        expect(await cache.incr(key('n'), 5)).toBe(5)
        expect(await cache.get(key('n'))).toBe('5')
      })

      it('incr adds to an existing integer, including negative amounts', async () => {
        await cache.set(key('n'), '10')
        expect(await cache.incr(key('n'), 3)).toBe(13)
        expect(await cache.incr(key('n'), -20)).toBe(-7)
        expect(await cache.incr(key('n'), 1)).toBe(-6)
        expect(await cache.get(key('n'))).toBe('-6')
      })

      it('incr keeps the TTL', async () => {
        await cache.set(key('n'), '1', TTL_SECONDS)
        expect(await cache.incr(key('n'), 1)).toBe(2)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('n'))).toBeNull()
      })

      it('incr of an expired key counts from 0 and sets no TTL', async () => {
        await cache.set(key('n'), '7', TTL_SECONDS)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.incr(key('n'), 2)).toBe(2)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.get(key('n'))).toBe('2')
      })

      it('concurrent incr calls are atomic', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, () => cache.incr(key('n'), 1)))
        expect(await cache.get(key('n'))).toBe('50')
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      })
    })

    describe('del', () => {
      it('del removes the keys and returns how many existed', async () => {
        await cache.set(key('a'), '1')
        await cache.set(key('b'), '2')
        await cache.lpush(key('list'), ['x'])
        await cache.set(key('kept'), '3')
        expect(await cache.del([key('a'), key('missing'), key('b'), key('list')])).toBe(3)
        expect(await cache.getMany([key('a'), key('b'), key('kept')])).toEqual([null, null, '3'])
        expect(await cache.llen(key('list'))).toBe(0)
        expect(await cache.del([key('a')])).toBe(0)
      })

      it('del of no keys returns 0', async () => {
        expect(await cache.del([])).toBe(0)
      })
    })

    describe('lists', () => {
      /** Builds the list `items` (head first). */
      const listOf = async (name: string, items: readonly string[]) => {
        await cache.lpush(key(name), [...items].reverse())
        expect(await cache.lrange(key(name), 0, -1)).toEqual(items)
      }

      it('lpush puts the values at the head in order (the last pushed first) and returns the length', async () => {
        expect(await cache.lpush(key('l'), ['a', 'b', 'c'])).toBe(3)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['c', 'b', 'a'])
        expect(await cache.lpush(key('l'), ['d'])).toBe(4)
        expect(await cache.lpush(key('l'), ['e', 'f'])).toBe(6)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['f', 'e', 'd', 'c', 'b', 'a'])
      })

      it('lists keep duplicates and exact strings', async () => {
        expect(await cache.lpush(key('l'), ['x', 'x', '', 'ü 🦔'])).toBe(4)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['ü 🦔', '', 'x', 'x'])
      })

      it('lrange returns start..stop inclusive, counting negative indexes from the end', async () => {
        await listOf('l', ['0', '1', '2', '3', '4'])
        expect(await cache.lrange(key('l'), 0, 0)).toEqual(['0'])
        expect(await cache.lrange(key('l'), 1, 3)).toEqual(['1', '2', '3'])
        expect(await cache.lrange(key('l'), -2, -1)).toEqual(['3', '4'])
        expect(await cache.lrange(key('l'), 1, -2)).toEqual(['1', '2', '3'])
        expect(await cache.lrange(key('l'), -3, 3)).toEqual(['2', '3'])
      })

      it('lrange clamps out-of-range indexes and returns [] for empty ranges', async () => {
        await listOf('l', ['0', '1', '2', '3', '4'])
        expect(await cache.lrange(key('l'), -100, 1)).toEqual(['0', '1'])
        expect(await cache.lrange(key('l'), 2, 100)).toEqual(['2', '3', '4'])
        expect(await cache.lrange(key('l'), -100, 100)).toEqual(['0', '1', '2', '3', '4'])
        expect(await cache.lrange(key('l'), 5, 10)).toEqual([])
        expect(await cache.lrange(key('l'), 3, 1)).toEqual([])
        expect(await cache.lrange(key('l'), -1, -2)).toEqual([])
        expect(await cache.lrange(key('l'), 0, -100)).toEqual([])
        expect(await cache.lrange(key('missing'), 0, -1)).toEqual([])
      })

      it('llen is the length, 0 when missing', async () => {
        expect(await cache.llen(key('l'))).toBe(0)
        await cache.lpush(key('l'), ['a', 'b'])
        expect(await cache.llen(key('l'))).toBe(2)
      })

      it('lpop removes and returns up to count elements from the head', async () => {
        await listOf('l', ['0', '1', '2', '3', '4'])
        expect(await cache.lpop(key('l'), 2)).toEqual(['0', '1'])
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['2', '3', '4'])
        expect(await cache.lpop(key('l'), 1)).toEqual(['2'])
        expect(await cache.lpop(key('l'), 10)).toEqual(['3', '4'])
        expect(await cache.llen(key('l'))).toBe(0)
        expect(await cache.lpop(key('l'), 1)).toEqual([])
      })

      it('lpop of a missing key returns []', async () => {
        expect(await cache.lpop(key('missing'), 3)).toEqual([])
      })

      it('lrem with count > 0 removes that many matches from the head', async () => {
        await listOf('l', ['a', 'b', 'a', 'c', 'a'])
        expect(await cache.lrem(key('l'), 2, 'a')).toBe(2)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['b', 'c', 'a'])
      })

      it('lrem with count < 0 removes that many matches from the tail', async () => {
        await listOf('l', ['a', 'b', 'a', 'c', 'a'])
        expect(await cache.lrem(key('l'), -2, 'a')).toBe(2)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['a', 'b', 'c'])
      })

      it('lrem with count 0 removes every match', async () => {
        await listOf('l', ['a', 'b', 'a', 'c', 'a'])
        expect(await cache.lrem(key('l'), 0, 'a')).toBe(3)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['b', 'c'])
      })

      it('lrem returns how many it removed: fewer matches than count, no match, missing key', async () => {
        await listOf('l', ['a', 'b', 'a'])
        expect(await cache.lrem(key('l'), 5, 'a')).toBe(2)
        expect(await cache.lrem(key('l'), 0, 'z')).toBe(0)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['b'])
        expect(await cache.lrem(key('missing'), 0, 'a')).toBe(0)
      })

      it('a list emptied by lrem behaves as missing', async () => {
        await listOf('l', ['a', 'a'])
        expect(await cache.lrem(key('l'), 0, 'a')).toBe(2)
        expect(await cache.llen(key('l'))).toBe(0)
        expect(await cache.lpush(key('l'), ['b'])).toBe(1)
      })

      it('expire works on lists, and an expired list behaves as missing', async () => {
        await cache.lpush(key('l'), ['x', 'y'])
        expect(await cache.expire(key('l'), TTL_SECONDS)).toBe(true)
        await env.time.advance(WITHIN_TTL_MS)
        expect(await cache.llen(key('l'))).toBe(2)
        await env.time.advance(PAST_TTL_MS - WITHIN_TTL_MS)
        expect(await cache.llen(key('l'))).toBe(0)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual([])
        expect(await cache.lpop(key('l'), 5)).toEqual([])
        expect(await cache.lrem(key('l'), 0, 'x')).toBe(0)
        expect(await cache.del([key('l')])).toBe(0)
      })

      it('lpush onto an expired list starts a new list without a TTL', async () => {
        await cache.lpush(key('l'), ['old'])
        await cache.expire(key('l'), TTL_SECONDS)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.lpush(key('l'), ['new'])).toBe(1)
        await env.time.advance(PAST_TTL_MS)
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['new'])
      })
    })

    // Adapters that keep data in one process cannot share it; their own tests cover sharing by
    // other means (the memory adapter runs this group over one shared store).
    describe.runIf(capabilities.sharedAcrossInstances)('across instances', () => {
      it('two instances see each other’s strings, lists, deletes and TTLs', async () => {
        const other = await harness.create()
        await cache.set(key('s'), 'from-a')
        expect(await other.get(key('s'))).toBe('from-a')
        await other.lpush(key('l'), ['1', '2'])
        expect(await cache.lrange(key('l'), 0, -1)).toEqual(['2', '1'])
        expect(await other.lpop(key('l'), 1)).toEqual(['2'])
        expect(await cache.llen(key('l'))).toBe(1)
        expect(await other.del([key('s')])).toBe(1)
        expect(await cache.get(key('s'))).toBeNull()
        await cache.set(key('t'), 'v', TTL_SECONDS)
        expect(await other.get(key('t'))).toBe('v')
        await env.time.advance(PAST_TTL_MS)
        expect(await other.get(key('t'))).toBeNull()
      })

      it('incr is atomic across instances', async () => {
        const other = await harness.create()
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? cache : other).incr(key('n'), 1)),
        )
        expect(await cache.get(key('n'))).toBe('40')
      })
    })
  })
}
