// Reading and checking admin API input: JSON bodies, path ids and query parameters. Every failure
// is an HttpError 400 that names the input and says what to send instead.
import { HttpError, type HttpRequest } from '../http/types.js'

/** A JSON object body. */
export type JsonObject = Record<string, unknown>

/** Whether a value is a plain JSON object (not null, not an array). */
export const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Reads the body up to `maxBytes` (default: the server's limit). The server's own 413 message is
 * written for capture requests, so it is replaced by `tooLarge`.
 */
export async function readBody(
  request: HttpRequest,
  maxBytes: number | undefined,
  tooLarge: string,
): Promise<Buffer> {
  try {
    return await request.body(maxBytes)
  } catch (error) {
    if (error instanceof HttpError && error.status === 413) throw new HttpError(413, tooLarge)
    throw error
  }
}

/**
 * Reads the body as a JSON object. The parse error is not quoted: V8's message echoes the text
 * around the fault, which may be a secret config value.
 */
export async function readJsonObject(request: HttpRequest, maxBytes?: number): Promise<JsonObject> {
  const body = await readBody(
    request,
    maxBytes,
    `the JSON body is larger than ${maxBytes === undefined ? "the server's body limit" : `${maxBytes} bytes`}: send a smaller one`,
  )
  const text = body.toString('utf8')
  if (text.trim() === '') {
    throw new HttpError(
      400,
      'the request body is empty: send a JSON object with Content-Type: application/json',
    )
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON: send a JSON object')
  }
  if (!isJsonObject(value))
    throw new HttpError(400, 'the request body must be a JSON object, e.g. {"key": "value"}')
  return value
}

/** The media type of a request, lower-case without parameters (`application/json; charset=utf-8` → `application/json`). */
export const mediaType = (request: HttpRequest): string =>
  (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''

const ID = /^[1-9]\d{0,14}$/

/** A record id from the path (`/api/plugins/:id`): a positive whole number. */
export function pathId(value: string | undefined, what: string, listedBy: string): number {
  if (value === undefined || !ID.test(value)) {
    throw new HttpError(
      400,
      `${what} id '${value ?? ''}' is not a positive whole number: use an id from ${listedBy}`,
    )
  }
  return Number(value)
}

/** A whole number from a body field or query parameter, or undefined when absent. */
export function optionalInteger(
  value: unknown,
  field: string,
  range: { min: number; max?: number },
): number | undefined {
  if (value === undefined) return undefined
  const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value
  const max = range.max ?? Number.MAX_SAFE_INTEGER
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < range.min || number > max) {
    const bound = range.max === undefined ? `of at least ${range.min}` : `from ${range.min} to ${range.max}`
    throw new HttpError(400, `${field} must be a whole number ${bound}`, { field })
  }
  return number
}

/** {@link optionalInteger} for a field that must be present. */
export function requiredInteger(value: unknown, field: string, range: { min: number; max?: number }): number {
  const number = optionalInteger(value, field, range)
  if (number === undefined)
    throw new HttpError(400, `${field} is missing: send it as a whole number`, { field })
  return number
}

/** A boolean body field, or undefined when absent. */
export function optionalBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value
  throw new HttpError(400, `${field} must be true or false`, { field })
}

/** A query parameter, or undefined when absent or empty. */
export const queryParam = (request: HttpRequest, name: string): string | undefined => {
  const value = request.url.searchParams.get(name)
  return value === null || value === '' ? undefined : value
}

/** A time from a query parameter: epoch milliseconds or an ISO 8601 date. */
export function optionalTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined
  const time = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isSafeInteger(time)) {
    throw new HttpError(400, `${field} must be epoch milliseconds or an ISO date like 2025-01-31T12:00:00Z`, {
      field,
    })
  }
  return time
}

/** Rejects body fields the endpoint does not know, so a typo is not silently ignored. */
export function onlyKnownFields(body: JsonObject, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((key) => !known.includes(key))
  if (unknown.length > 0) {
    throw new HttpError(
      400,
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: this endpoint takes ${known.join(', ')}`,
      { fields: unknown },
    )
  }
}
