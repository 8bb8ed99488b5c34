import type { IncomingHttpHeaders } from 'node:http'

/** A request as route handlers see it: parsed URL, lower-case headers, the body on demand. */
export interface HttpRequest {
  readonly method: string
  readonly url: URL
  readonly headers: IncomingHttpHeaders
  /** The peer's address, for logs and `$ip`. */
  readonly remoteAddress: string | null
  /**
   * Reads the whole body. Rejects with an {@link HttpError} 413 when it is longer than `maxBytes`
   * (default: the server's body limit).
   */
  body(maxBytes?: number): Promise<Buffer>
}

/** What a handler answers. An object or array `body` is sent as JSON. */
export interface HttpResponse {
  status: number
  headers?: Readonly<Record<string, string>>
  body?: string | Uint8Array | object
}

/** Path parameters of a matched route, e.g. `{ id: '3' }` for `/api/plugins/:id`. */
export type RouteParams = Readonly<Record<string, string>>

/** One endpoint. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Literal segments and `:name` parameters, e.g. `/api/configs/:id/attachments/:key`. */
  path: string
  handle(request: HttpRequest, params: RouteParams): Promise<HttpResponse>
}

/**
 * A failure with the status and message the client gets. Handlers throw it for bad input; the
 * message must say what was wrong and what to do.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra fields of the JSON error body, e.g. the list of problems. */
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/** A JSON response. */
export const json = (status: number, body: object): HttpResponse => ({ status, body })
