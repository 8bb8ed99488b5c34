import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A request the server received, with its raw body. */
export interface ReceivedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: Buffer
}

/** How the server answers one request; `undefined` leaves it unanswered until the server closes. */
export type Answer =
  | { status: number; body?: string; headers?: Record<string, string> }
  | 'destroy'
  | undefined

/** A real HTTP server on 127.0.0.1 that records every request: the other side of the sinks under test. */
export interface RecordingServer {
  /** `http://127.0.0.1:<port>` */
  origin: string
  requests: ReceivedRequest[]
  /** Most requests that were being answered at the same time. */
  maxConcurrent: number
  close(): Promise<void>
}

/**
 * Starts a server that answers each request with `answer(request, index)`, which may be async
 * (to hold a request open). 'destroy' drops the connection without a response.
 */
export async function startRecordingServer(
  answer: (request: ReceivedRequest, index: number) => Answer | Promise<Answer> = () => ({ status: 200 }),
): Promise<RecordingServer> {
  let active = 0
  const sockets = new Set<import('node:net').Socket>()
  const server = http.createServer((request, response) => {
    active++
    state.maxConcurrent = Math.max(state.maxConcurrent, active)
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', async () => {
      const received = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      }
      const index = state.requests.push(received) - 1
      const reply = await answer(received, index)
      active--
      if (reply === undefined) return
      if (reply === 'destroy') {
        request.socket.destroy()
        return
      }
      response.writeHead(reply.status, reply.headers)
      response.end(reply.body ?? '')
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const state: RecordingServer = {
    origin: `http://127.0.0.1:${port}`,
    requests: [],
    maxConcurrent: 0,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
  return state
}

/** A port on 127.0.0.1 that nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
