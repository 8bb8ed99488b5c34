import { type FileHandle, mkdir, open } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { type ProcessedPluginEvent, type Sink, SinkError } from '@sluice/core'

/** Options of {@link createJsonlFileSink}. */
export interface JsonlFileSinkOptions {
  /** The file events are appended to; it and its parent folders are created when missing. */
  path: string
  /**
   * Name in logs and metrics.
   * @default `file:<absolute path>`
   */
  name?: string
}

/** Options of {@link createJsonlStreamSink}. */
export interface JsonlStreamSinkOptions {
  /** Where the lines go, e.g. `process.stdout`. The sink never ends it: its owner does. */
  stream: Writable
  /** Name in logs and metrics, e.g. `stdout`. */
  name: string
}

const COMPONENT = 'jsonl'

/** File system errors that may clear up by themselves: a full disk, an I/O hiccup, too many open files. */
const TRANSIENT_FS_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EINTR',
])

const NEWLINE = 0x0a

/**
 * Creates a sink that appends each event as one JSON line to a file. The file is opened in append
 * mode on the first write (creating parent folders), and a write resolves only after its lines
 * were written and `datasync()`ed, so they survive a crash. Writes run one at a time, in call order.
 * A write that fails half-way is cut back off the file, so the redelivered batch does not follow a
 * broken line; if even that fails, the next write starts on a new line. The sink assumes it is
 * the file's only writer.
 * @example
 * const sink = createJsonlFileSink({ path: './data/events.jsonl' })
 * await sink.write(events)
 */
export function createJsonlFileSink(options: JsonlFileSinkOptions): Sink {
  if (typeof options?.path !== 'string' || options.path.trim() === '') {
    throw invalid('path must be the file to append events to, e.g. ./data/events.jsonl')
  }
  const path = resolve(options.path)
  const name = options.name ?? `file:${path}`
  let file: { handle: FileHandle; size: number; endsMidLine: boolean } | undefined

  const openFile = async () => {
    await mkdir(dirname(path), { recursive: true })
    const handle = await open(path, 'a+')
    try {
      const { size } = await handle.stat()
      let endsMidLine = false
      if (size > 0) {
        const last = Buffer.alloc(1)
        await handle.read(last, 0, 1, size - 1)
        endsMidLine = last[0] !== NEWLINE
      }
      return { handle, size, endsMidLine }
    } catch (error) {
      await handle.close().catch(() => undefined)
      throw error
    }
  }

  const append = async (lines: string): Promise<void> => {
    let current: typeof file
    try {
      file ??= await openFile()
      current = file
      const data = Buffer.from(current.endsMidLine ? `\n${lines}` : lines, 'utf8')
      let written = 0
      while (written < data.byteLength) {
        const { bytesWritten } = await current.handle.write(data, written, data.byteLength - written)
        written += bytesWritten
      }
      await current.handle.datasync()
      current.size += data.byteLength
      current.endsMidLine = false
    } catch (error) {
      if (current) {
        file = undefined
        await current.handle.truncate(current.size).catch(() => undefined)
        await current.handle.close().catch(() => undefined)
      }
      throw fileError(error, name, path)
    }
  }

  return serializedSink(name, append, async () => {
    const current = file
    file = undefined
    await current?.handle.close()
  })
}

/**
 * Creates a sink that writes each event as one JSON line to a stream, such as `process.stdout`.
 * A write resolves once the stream took its lines (its write callback ran) and, if the stream
 * asked to slow down, once it drained; writes run one at a time, in call order. An error on the
 * stream rejects the write in progress and every later one, not retryable: a failed stream
 * takes no more data. `close()` waits for writes in progress and leaves the stream open.
 * @example
 * const sink = createJsonlStreamSink({ stream: process.stdout, name: 'stdout' })
 */
export function createJsonlStreamSink(options: JsonlStreamSinkOptions): Sink {
  const stream = options?.stream
  if (typeof stream?.write !== 'function' || typeof stream.on !== 'function') {
    throw invalid('stream must be a writable stream, e.g. process.stdout')
  }
  if (typeof options.name !== 'string' || options.name.trim() === '') {
    throw invalid("name must say where the stream goes, e.g. 'stdout'")
  }
  const { name } = options
  let failure: unknown
  // Without a listener an 'error' event (EPIPE when stdout's reader goes away) would crash the process.
  const onError = (error: unknown) => {
    failure ??= error
  }
  stream.on('error', onError)

  const append = async (lines: string): Promise<void> => {
    if (failure !== undefined) throw streamError(failure, name)
    if (stream.destroyed || stream.writableEnded) {
      throw new SinkError(`${name}: cannot write: the stream was ended or destroyed`, {
        retryable: false,
        code: 'sink.closed',
        component: COMPONENT,
      })
    }
    try {
      await untilSettled(stream, (done) => {
        stream.write(lines, done)
        return undefined
      })
      // The stream asked to slow down and has not drained yet.
      if (stream.writableNeedDrain) {
        await untilSettled(stream, (done) => {
          stream.once('drain', done)
          return () => stream.off('drain', done)
        })
      }
    } catch (error) {
      failure ??= error
      throw streamError(error, name)
    }
  }

  return serializedSink(name, append, async () => {
    stream.off('error', onError)
  })
}

/**
 * Waits for `start`'s callback, or for the stream to fail or close first: a stream destroyed
 * while it holds a chunk never calls that chunk's callback.
 * @param start begins the wait; may return a function that stops it
 */
function untilSettled(
  stream: Writable,
  start: (done: (error?: Error | null) => void) => (() => void) | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let stop: (() => void) | undefined
    const finish = (error?: Error | null) => {
      stream.off('error', finish)
      stream.off('close', onClose)
      stop?.()
      if (error) reject(error)
      else resolve()
    }
    const onClose = () => finish(stream.errored ?? new Error('the stream closed before taking the data'))
    stream.on('error', finish)
    stream.on('close', onClose)
    stop = start(finish)
  })
}

/**
 * The Sink both JSONL sinks share: events become JSON lines, appends run one at a time in call
 * order, `close()` waits for them before releasing, and writes after it are refused.
 */
function serializedSink(
  name: string,
  append: (lines: string) => Promise<void>,
  release: () => Promise<void>,
): Sink {
  let closed = false
  let tail: Promise<unknown> = Promise.resolve()
  return {
    name,

    write(events) {
      if (closed) {
        return Promise.reject(
          new SinkError(`${name}: cannot write: the sink was closed — create a new one`, {
            retryable: false,
            code: 'sink.closed',
            component: COMPONENT,
          }),
        )
      }
      if (events.length === 0) return Promise.resolve()
      let lines: string
      try {
        lines = toLines(events, name)
      } catch (error) {
        return Promise.reject(error)
      }
      const written = tail.then(() => append(lines))
      tail = written.catch(() => undefined)
      return written
    },

    async close() {
      if (closed) return
      closed = true
      await tail
      await release()
    },
  }
}

function toLines(events: readonly ProcessedPluginEvent[], name: string): string {
  return events
    .map((event, index) => {
      let line: string | undefined
      try {
        line = JSON.stringify(event)
      } catch (error) {
        throw invalidEvent(name, index, error instanceof Error ? error.message : String(error))
      }
      if (line === undefined) throw invalidEvent(name, index, 'it is not an object')
      return `${line}\n`
    })
    .join('')
}

function invalidEvent(name: string, index: number, why: string): SinkError {
  return new SinkError(`${name}: event ${index} cannot be written as JSON (${why})`, {
    retryable: false,
    code: 'sink.invalid',
    component: COMPONENT,
  })
}

function invalid(message: string): SinkError {
  return new SinkError(`${message} — fix the sink's configuration`, {
    retryable: false,
    code: 'sink.invalid',
    component: COMPONENT,
  })
}

function fileError(error: unknown, name: string, path: string): SinkError {
  const code = errorCode(error)
  const retryable = TRANSIENT_FS_CODES.has(code)
  const hint = retryable
    ? 'the events will be written again'
    : `check that ${path} is a file this process may create and write`
  return new SinkError(`${name}: appending failed (${describe(error)}) — ${hint}`, {
    retryable,
    code: retryable ? 'sink.unavailable' : 'sink.refused',
    component: COMPONENT,
    cause: error,
  })
}

function streamError(error: unknown, name: string): SinkError {
  return new SinkError(
    `${name}: the stream failed (${describe(error)}) and takes no more writes — check where ${name} goes and restart`,
    {
      retryable: false,
      code: 'sink.failed',
      component: COMPONENT,
      cause: error,
    },
  )
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : ''
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
