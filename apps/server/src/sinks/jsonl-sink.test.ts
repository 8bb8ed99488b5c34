import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { type ProcessedPluginEvent, SinkError } from '@sluice/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createJsonlFileSink, createJsonlStreamSink } from './jsonl-sink.js'

function event(n: number): ProcessedPluginEvent {
  return {
    uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    distinct_id: `user-${n}`,
    ip: null,
    team_id: 1,
    event: `event ${n}`,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    properties: { n, text: 'line\nbreak' },
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => event(from + i))

async function rejection(promise: Promise<unknown>): Promise<SinkError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the write to reject')
    },
    (error: unknown) => error,
  )
  expect(error).toBeInstanceOf(SinkError)
  return error as SinkError
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

describe('createJsonlFileSink', () => {
  let folder: string
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'sluice-jsonl-'))
  })
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true })
  })

  const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n')

  it('creates parent folders and appends one JSON line per event', async () => {
    const path = join(folder, 'a', 'b', 'events.jsonl')
    const sink = createJsonlFileSink({ path })
    expect(sink.name).toBe(`file:${path}`)
    await sink.write(range(0, 3))
    await sink.write(range(3, 5))
    await sink.close()

    const written = await lines(path)
    expect(written.pop()).toBe('')
    expect(written.map((line) => JSON.parse(line))).toEqual(range(0, 5))
  })

  it('appends to an existing file instead of replacing it', async () => {
    const path = join(folder, 'events.jsonl')
    await writeFile(path, `${JSON.stringify(event(0))}\n`)
    const sink = createJsonlFileSink({ path })
    await sink.write([event(1)])
    await sink.close()
    const reopened = createJsonlFileSink({ path })
    await reopened.write([event(2)])
    await reopened.close()

    const written = (await lines(path)).filter(Boolean).map((line) => JSON.parse(line))
    expect(written).toEqual(range(0, 3))
  })

  it('starts on a new line after a partial line left by a crash', async () => {
    const path = join(folder, 'events.jsonl')
    await writeFile(path, `${JSON.stringify(event(0))}\n{"uuid":"cut off`)
    const sink = createJsonlFileSink({ path })
    await sink.write([event(1)])
    await sink.close()
    expect(await lines(path)).toEqual([
      JSON.stringify(event(0)),
      '{"uuid":"cut off',
      JSON.stringify(event(1)),
      '',
    ])
  })

  it('keeps call order when writes are not awaited one by one', async () => {
    const path = join(folder, 'events.jsonl')
    const sink = createJsonlFileSink({ path })
    await Promise.all(Array.from({ length: 20 }, (_, i) => sink.write(range(i * 5, i * 5 + 5))))
    await sink.close()
    const written = (await lines(path)).filter(Boolean).map((line) => JSON.parse(line))
    expect(written).toEqual(range(0, 100))
  })

  it('close() waits for writes in progress; later writes are refused', async () => {
    const path = join(folder, 'events.jsonl')
    const sink = createJsonlFileSink({ path })
    const writing = sink.write(range(0, 50))
    await sink.close()
    await writing
    expect((await lines(path)).filter(Boolean)).toHaveLength(50)
    const error = await rejection(sink.write([event(50)]))
    expect(error.code).toBe('sink.closed')
  })

  it('rejects with a non-retryable SinkError naming the sink when the path is a folder', async () => {
    const path = join(folder, 'taken')
    await mkdir(path)
    const sink = createJsonlFileSink({ path })
    const error = await rejection(sink.write([event(1)]))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`file:${path}`)
    expect(error.message).toContain('EISDIR')
  })

  it.runIf(existsSync('/dev/full'))('rejects with a retryable SinkError when the disk is full', async () => {
    const sink = createJsonlFileSink({ path: '/dev/full', name: 'full' })
    const error = await rejection(sink.write([event(1)]))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain('ENOSPC')
  })

  it('rejects an event that is not JSON data without writing the batch', async () => {
    const path = join(folder, 'events.jsonl')
    const sink = createJsonlFileSink({ path })
    const bad = { ...event(2), properties: { big: 1n } }
    const error = await rejection(sink.write([event(1), bad]))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain('event 1 cannot be written')
    expect(existsSync(path)).toBe(false)
  })

  it('throws a SinkError for a missing path', () => {
    expect(() => createJsonlFileSink({ path: ' ' })).toThrow(SinkError)
  })
})

/** A stream that holds each chunk until the test lets it through, with a tiny buffer. */
function slowStream() {
  const chunks: string[] = []
  const pending: (() => void)[] = []
  const stream = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'))
      pending.push(() => callback())
    },
  })
  const releaseAll = () => {
    for (const release of pending.splice(0)) release()
  }
  return { stream, chunks, pending, releaseAll }
}

describe('createJsonlStreamSink', () => {
  it('writes one JSON line per event, in call order', async () => {
    const chunks: string[] = []
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString('utf8'))
        setImmediate(callback)
      },
    })
    const sink = createJsonlStreamSink({ stream, name: 'stdout' })
    expect(sink.name).toBe('stdout')
    await Promise.all([sink.write(range(0, 2)), sink.write(range(2, 3)), sink.write(range(3, 6))])
    const lines = chunks.join('').split('\n')
    expect(lines.pop()).toBe('')
    expect(lines.map((line) => JSON.parse(line))).toEqual(range(0, 6))
  })

  it('resolves a write only after the stream took the data and drained', async () => {
    const { stream, pending, releaseAll } = slowStream()
    const sink = createJsonlStreamSink({ stream, name: 'slow' })
    let resolved = false
    const writing = sink.write(range(0, 3)).then(() => {
      resolved = true
    })
    await tick()
    expect(pending).toHaveLength(1)
    expect(stream.writableNeedDrain).toBe(true)
    expect(resolved).toBe(false)
    releaseAll()
    await writing
    expect(resolved).toBe(true)
  })

  it('waits for drain when another writer (logs on stdout) filled the stream behind its lines', async () => {
    const { stream, pending } = slowStream()
    const sink = createJsonlStreamSink({ stream, name: 'stdout' })
    let resolved = false
    const writing = sink.write([event(1)]).then(() => {
      resolved = true
    })
    await tick()
    stream.write('{"level":"info","msg":"a log line"}\n')
    pending.shift()?.()
    await tick()
    expect(pending).toHaveLength(1)
    expect(resolved).toBe(false)
    pending.shift()?.()
    await writing
    expect(resolved).toBe(true)
  })

  it('does not hand the stream the next write before the previous one drained', async () => {
    const { stream, chunks, releaseAll } = slowStream()
    const sink = createJsonlStreamSink({ stream, name: 'slow' })
    const first = sink.write([event(1)])
    const second = sink.write([event(2)])
    await tick()
    expect(chunks).toHaveLength(1)
    releaseAll()
    await first
    await tick()
    expect(chunks).toHaveLength(2)
    releaseAll()
    await second
  })

  it('rejects the write in progress and later ones when the stream fails', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
      },
    })
    const sink = createJsonlStreamSink({ stream, name: 'stdout' })
    const error = await rejection(sink.write([event(1)]))
    expect(error.message).toContain('stdout')
    expect(error.message).toContain('EPIPE')
    const later = await rejection(sink.write([event(2)]))
    expect(later.message).toContain('EPIPE')
  })

  it('rejects a write the stream still holds when the stream is destroyed', async () => {
    const { stream } = slowStream()
    const sink = createJsonlStreamSink({ stream, name: 'slow' })
    const writing = rejection(sink.write(range(0, 3)))
    await tick()
    stream.destroy(new Error('reader went away'))
    expect((await writing).message).toContain('reader went away')
  })

  it('rejects writes to an ended stream', async () => {
    const stream = new Writable({ write: (_chunk, _encoding, callback) => callback() })
    stream.end()
    const error = await rejection(createJsonlStreamSink({ stream, name: 'ended' }).write([event(1)]))
    expect(error.message).toContain('ended or destroyed')
  })

  it('close() waits for the write in progress, leaves the stream open and removes its listener', async () => {
    const { stream, releaseAll } = slowStream()
    const listeners = stream.listenerCount('error')
    const sink = createJsonlStreamSink({ stream, name: 'slow' })
    let closed = false
    const writing = sink.write([event(1)])
    const closing = sink.close().then(() => {
      closed = true
    })
    await tick()
    expect(closed).toBe(false)
    releaseAll()
    await Promise.all([writing, closing])
    expect(stream.writableEnded).toBe(false)
    expect(stream.listenerCount('error')).toBe(listeners)
    expect((await rejection(sink.write([event(2)]))).code).toBe('sink.closed')
  })

  it('throws a SinkError without a stream or a name', () => {
    expect(() => createJsonlStreamSink({ stream: {} as Writable, name: 'x' })).toThrow(SinkError)
    expect(() => createJsonlStreamSink({ stream: new Writable(), name: '' })).toThrow(SinkError)
  })
})
