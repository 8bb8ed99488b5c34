import type { Clock } from '@sluice/core'
import type { Driver } from './driver.js'
import { type PortErrorClass, toPortError } from './errors.js'
import { qualifiedName } from './identifiers.js'

/** What every adapter of one store shares. */
export interface StoreContext {
  readonly driver: Driver
  /** The validated, unquoted schema name. */
  readonly schema: string
  /** Stamps created/updated times. */
  readonly clock: Pick<Clock, 'now'>
  /** Removes secrets (the url's password) from text. */
  readonly redact: (text: string) => string
  /** True once the store was closed. */
  readonly isClosed: () => boolean
  /** Reports errors that have no caller to reject (the store's `onError` option). */
  readonly onError: (error: unknown) => void
}

/** `"schema"."name"`. */
export function tableName(context: StoreContext, name: string): string {
  return qualifiedName(context.schema, name)
}

/** Runs one port operation, turning native driver errors into the port's error class. */
export type Guard = <T>(operation: string, fn: () => Promise<T>) => Promise<T>

/**
 * Returns the guard of one port: it refuses work after the store closed, and maps anything the
 * driver throws with {@link toPortError}.
 */
export function createGuard(context: StoreContext, errorClass: PortErrorClass, codePrefix: string): Guard {
  return async (operation, fn) => {
    if (context.isClosed()) {
      throw new errorClass(`${codePrefix}.${operation}: the store was closed — create a new one`, {
        retryable: false,
        code: `${codePrefix}.closed`,
        component: 'postgres',
      })
    }
    try {
      return await fn()
    } catch (error) {
      throw toPortError(error, {
        errorClass,
        codePrefix,
        operation: `${codePrefix}.${operation}`,
        redact: context.redact,
      })
    }
  }
}

/** The error of an argument the port's contract forbids. */
export function invalidArgument(
  errorClass: PortErrorClass,
  codePrefix: string,
  message: string,
  code = 'invalid',
) {
  return new errorClass(message, { retryable: false, code: `${codePrefix}.${code}`, component: 'postgres' })
}

/** An int8 column as a JS number (drivers return it as a string, a number or a bigint). */
export function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

/** A nullable int8 column as a JS number or null. */
export function toNullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value)
}

/** A bytea column as a fresh Uint8Array (pg returns a Buffer, PGlite a Uint8Array). */
export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value)
  throw new TypeError(`expected bytea, got ${typeof value}`)
}

/** Matches the decimal text of a positive bigint id, as the store hands ids out. */
const BIGINT_ID = /^[1-9][0-9]{0,18}$/

/** The id as a bigint parameter, or undefined when it cannot be an id of this store. */
export function parseBigintId(id: unknown): string | undefined {
  if (typeof id !== 'string' || !BIGINT_ID.test(id)) return undefined
  return BigInt(id) <= 9223372036854775807n ? id : undefined
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what PostgreSQL text cannot hold
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * Text as PostgreSQL can store it: `text` and `jsonb` cannot hold NUL (U+0000), and `jsonb` refuses
 * unpaired surrogates, so both become U+FFFD. Used where refusing a write would lose data for good
 * (logs, reasons, processed events); elsewhere the server's refusal is reported instead.
 */
export function storableText(text: string): string {
  UNSTORABLE.lastIndex = 0
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE, '\ufffd') : text
}

/** `JSON.stringify` with {@link storableText} applied to every string and key, for a jsonb column. */
export function storableJsonText(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner === 'string') return storableText(inner)
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      const keys = Object.keys(inner)
      if (keys.some((key) => storableText(key) !== key)) {
        return Object.fromEntries(
          keys.map((key) => [storableText(key), (inner as Record<string, unknown>)[key]]),
        )
      }
    }
    return inner
  })
}
