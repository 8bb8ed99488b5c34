import { describe, expect, it } from 'vitest'
import { chunkLanes, groupIntoLanes, longestLane, runLanes } from './keyed-lanes.js'

interface Deferred {
  promise: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets every pending promise callback run; no timers involved. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

/** A `run` whose calls stay pending until the test settles them by item. */
function controlledRun() {
  const started: string[] = []
  const pending = new Map<string, Deferred>()
  let running = 0
  let maxRunning = 0
  const run = async (item: string) => {
    started.push(item)
    running++
    maxRunning = Math.max(maxRunning, running)
    const d = deferred()
    pending.set(item, d)
    try {
      await d.promise
    } finally {
      running--
    }
  }
  const finish = async (item: string) => {
    const d = pending.get(item)
    if (d === undefined) throw new Error(`${item} has not started`)
    d.resolve()
    await settle()
  }
  const fail = async (item: string, error: unknown) => {
    pending.get(item)?.reject(error)
    await settle()
  }
  return { run, started, finish, fail, running: () => running, maxRunning: () => maxRunning }
}

describe('longestLane', () => {
  it('counts the items of the largest lane, 0 for none', () => {
    expect(longestLane(['a1', 'b1', 'a2', 'c1', 'b2', 'a3'], (s) => s[0] ?? '')).toBe(3)
    expect(longestLane(['a1', 'b1'], (s) => s[0] ?? '')).toBe(1)
    expect(longestLane([], (s: string) => s)).toBe(0)
  })
})

describe('groupIntoLanes', () => {
  it('groups by key in first-appearance order and keeps order within each lane', () => {
    const items = ['a1', 'b1', 'a2', 'c1', 'b2', 'a3']
    expect(groupIntoLanes(items, (s) => s[0] ?? '')).toEqual([['a1', 'a2', 'a3'], ['b1', 'b2'], ['c1']])
  })

  it('returns no lanes for no items and one lane per item for distinct keys', () => {
    expect(groupIntoLanes([], String)).toEqual([])
    expect(groupIntoLanes([3, 1, 2], String)).toEqual([[3], [1], [2]])
  })

  it('does not confuse keys that look like object properties', () => {
    expect(groupIntoLanes(['__proto__', 'constructor', '__proto__'], (s) => s)).toEqual([
      ['__proto__', '__proto__'],
      ['constructor'],
    ])
  })
})

describe('runLanes', () => {
  it('runs the items of one lane strictly one after another', async () => {
    const c = controlledRun()
    const done = runLanes([['a1', 'a2', 'a3']], 4, c.run)
    await settle()
    expect(c.started).toEqual(['a1'])
    await c.finish('a1')
    expect(c.started).toEqual(['a1', 'a2'])
    await c.finish('a2')
    await c.finish('a3')
    await done
    expect(c.started).toEqual(['a1', 'a2', 'a3'])
    expect(c.maxRunning()).toBe(1)
  })

  it('runs different lanes at the same time', async () => {
    const c = controlledRun()
    const done = runLanes([['a1', 'a2'], ['b1'], ['c1']], 3, c.run)
    await settle()
    expect(c.started).toEqual(['a1', 'b1', 'c1'])
    expect(c.running()).toBe(3)
    // b1 finishing does not let a2 overtake a1.
    await c.finish('b1')
    expect(c.started).toEqual(['a1', 'b1', 'c1'])
    await c.finish('a1')
    expect(c.started).toEqual(['a1', 'b1', 'c1', 'a2'])
    await c.finish('c1')
    await c.finish('a2')
    await done
  })

  it('runs at most `concurrency` lanes at a time and starts the next lane as one finishes', async () => {
    const c = controlledRun()
    const done = runLanes([['a1', 'a2'], ['b1'], ['c1'], ['d1']], 2, c.run)
    await settle()
    expect(c.started).toEqual(['a1', 'b1'])
    await c.finish('b1')
    expect(c.started).toEqual(['a1', 'b1', 'c1'])
    await c.finish('a1')
    // Lane a still owns its slot until a2 is done, so d waits.
    expect(c.started).toEqual(['a1', 'b1', 'c1', 'a2'])
    await c.finish('c1')
    expect(c.started).toEqual(['a1', 'b1', 'c1', 'a2', 'd1'])
    await c.finish('a2')
    await c.finish('d1')
    await done
    expect(c.maxRunning()).toBe(2)
  })

  it('with concurrency 1 runs everything in lane order', async () => {
    const order: string[] = []
    await runLanes([['a1', 'a2'], ['b1']], 1, async (item) => {
      order.push(item)
    })
    expect(order).toEqual(['a1', 'a2', 'b1'])
  })

  it('accepts Infinity and resolves at once for no lanes or empty lanes', async () => {
    const order: string[] = []
    await runLanes([], Number.POSITIVE_INFINITY, async (item: string) => {
      order.push(item)
    })
    await runLanes([[], ['x']], Number.POSITIVE_INFINITY, async (item) => {
      order.push(item)
    })
    expect(order).toEqual(['x'])
  })

  it('on a rejection, starts nothing new, waits for in-flight items, then rejects with that error', async () => {
    const c = controlledRun()
    const boom = new Error('boom')
    let outcome: unknown = 'pending'
    const done = runLanes([['a1', 'a2'], ['b1', 'b2'], ['c1']], 2, c.run).then(
      () => 'resolved',
      (error: unknown) => error,
    )
    void done.then((value) => {
      outcome = value
    })
    await settle()
    expect(c.started).toEqual(['a1', 'b1'])
    await c.fail('a1', boom)
    // b1 is still running: the rejection waits for it.
    expect(outcome).toBe('pending')
    expect(c.started).toEqual(['a1', 'b1'])
    await c.finish('b1')
    expect(c.started).toEqual(['a1', 'b1'])
    expect(await done).toBe(boom)
    expect(c.running()).toBe(0)
  })

  it('keeps the first error when in-flight items fail too', async () => {
    const c = controlledRun()
    const first = new Error('first')
    const done = runLanes([['a1'], ['b1']], 2, c.run).catch((error: unknown) => error)
    await settle()
    await c.fail('b1', first)
    await c.fail('a1', new Error('second'))
    expect(await done).toBe(first)
  })

  it('turns a synchronous throw from run into a rejection', async () => {
    const run = (item: string): Promise<void> => {
      if (item === 'bad') throw new TypeError('sync')
      return Promise.resolve()
    }
    await expect(runLanes([['ok', 'bad', 'never']], 1, run)).rejects.toThrow('sync')
  })

  it.each([0, -1, 1.5, Number.NaN])('rejects concurrency %s', async (concurrency) => {
    await expect(runLanes([['a']], concurrency, async () => {})).rejects.toThrow(RangeError)
  })
})

describe('chunkLanes', () => {
  const laneOf = (item: string) => item.split(':')[0] as string

  it('keeps up to 1.5 × size items as one chunk, in order', () => {
    expect(chunkLanes(['a:1', 'b:1', 'a:2'], laneOf, 2)).toEqual([['a:1', 'b:1', 'a:2']])
  })

  it('never splits a lane, and keeps batch order within each chunk', () => {
    const items = ['a:1', 'b:1', 'a:2', 'c:1', 'b:2', 'd:1', 'a:3', 'e:1']
    const chunks = chunkLanes(items, laneOf, 3)
    expect(chunks).toEqual([
      ['a:1', 'a:2', 'a:3'],
      ['b:1', 'c:1', 'b:2'],
      ['d:1', 'e:1'],
    ])
    expect(chunks.flat().sort()).toEqual([...items].sort())
  })

  it('puts a lane longer than size in a chunk of its own', () => {
    expect(chunkLanes(['a:1', 'a:2', 'a:3', 'a:4', 'b:1'], laneOf, 2)).toEqual([
      ['a:1', 'a:2', 'a:3', 'a:4'],
      ['b:1'],
    ])
  })
})
