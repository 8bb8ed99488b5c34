import type { Writable } from 'node:stream'
import { LOG_LEVELS, type LogLevel } from './config.js'

/** Structured fields of a log line; `error` values are rendered with their message. */
export type LogFields = Readonly<Record<string, unknown>>

/** The server's own log: one JSON object per line. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

const render = (value: unknown): unknown =>
  value instanceof Error ? { name: value.name, message: value.message } : value

/**
 * A logger writing JSON lines (`{"time","level","msg","instance",...fields}`) to `stream`, dropping
 * levels below `level`. Callers never pass secrets: URLs are redacted before they get here.
 */
export function createJsonLogger(options: { stream: Writable; level: LogLevel; instanceId: string }): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level)
  const write =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}) => {
      if (LOG_LEVELS.indexOf(level) < threshold) return
      const line: Record<string, unknown> = {
        time: new Date().toISOString(),
        level,
        msg: message,
        instance: options.instanceId,
      }
      for (const [key, value] of Object.entries(fields)) line[key] = render(value)
      options.stream.write(`${JSON.stringify(line)}\n`)
    }
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }
}
