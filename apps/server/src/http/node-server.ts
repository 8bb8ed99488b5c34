import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpError, type HttpRequest, type HttpResponse } from './types.js'

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  /** Answers every request; throw an {@link HttpError} for a 4xx. */
  handle(request: HttpRequest): Promise<HttpResponse>
  /** Largest request body read by `request.body()` unless the handler passes its own limit. */
  maxBodyBytes: number
  /** Unexpected failures (the client gets a 500 without the detail). */
  onError(error: unknown, request: HttpRequest): void
}

/** A listening HTTP server. */
export interface HttpServer {
  /** The bound address, e.g. `http://127.0.0.1:8000`. */
  readonly url: string
  /** Stops accepting connections, waits for requests in flight, closes idle keep-alive sockets. */
  close(): Promise<void>
}

// Browsers send capture requests cross-origin (posthog-js); the admin API relies on the bearer token,
// never on cookies, so allowing any origin exposes nothing.
const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, content-encoding',
  'access-control-max-age': '86400',
}

const readBody = (message: IncomingMessage, maxBytes: number) =>
  new Promise<Buffer>((resolve, reject) => {
    const declared = Number(message.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(tooLarge(maxBytes))
      message.resume()
      return
    }
    const chunks: Buffer[] = []
    let length = 0
    message.on('data', (chunk: Buffer) => {
      length += chunk.length
      if (length > maxBytes) {
        reject(tooLarge(maxBytes))
        message.removeAllListeners('data')
        message.resume()
        return
      }
      chunks.push(chunk)
    })
    message.on('end', () => resolve(Buffer.concat(chunks, length)))
    // The stream fails only when the client went away mid-body: its doing, not a server fault.
    message.on('error', () => reject(cutOff()))
  })

const cutOff = () =>
  new HttpError(
    400,
    'the request body was cut off: the client closed the connection before sending all of it',
  )

const tooLarge = (maxBytes: number) =>
  new HttpError(
    413,
    `the request body is larger than ${maxBytes} bytes: send less per request (capture: fewer events per batch)`,
  )

const send = (response: ServerResponse, result: HttpResponse, headOnly: boolean) => {
  const { body } = result
  let payload: string | Uint8Array
  let contentType: string | undefined
  if (body === undefined) payload = ''
  else if (typeof body === 'string') {
    payload = body
    contentType = 'text/plain; charset=utf-8'
  } else if (body instanceof Uint8Array) {
    payload = body
    contentType = 'application/octet-stream'
  } else {
    payload = JSON.stringify(body)
    contentType = 'application/json'
  }
  const headers: Record<string, string | number> = { ...CORS_HEADERS, ...result.headers }
  if (contentType && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = contentType
  }
  headers['content-length'] = Buffer.byteLength(payload)
  response.writeHead(result.status, headers)
  response.end(headOnly ? undefined : payload)
}

/** Starts a node:http server on `host:port` (port 0 picks a free one) that hands requests to `handle`. */
export async function createHttpServer(
  options: HttpServerOptions,
  listen: { host: string; port: number },
): Promise<HttpServer> {
  const server: Server = createServer((message, response) => {
    const url = new URL(message.url ?? '/', 'http://sluice.invalid')
    const request: HttpRequest = {
      method: message.method ?? 'GET',
      url,
      headers: message.headers,
      remoteAddress: message.socket.remoteAddress ?? null,
      body: (maxBytes = options.maxBodyBytes) => readBody(message, maxBytes),
    }
    if (request.method === 'OPTIONS') {
      send(response, { status: 204 }, true)
      return
    }
    options.handle(request).then(
      (result) => send(response, result, request.method === 'HEAD'),
      (error: unknown) => {
        if (error instanceof HttpError) {
          send(response, { status: error.status, body: { error: error.message, ...error.details } }, false)
          return
        }
        options.onError(error, request)
        send(
          response,
          { status: 500, body: { error: 'internal error: the server log has the details' } },
          false,
        )
      },
    )
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeIdleConnections()
      }),
  }
}
