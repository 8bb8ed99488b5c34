import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { isIP } from 'node:net'
import tls from 'node:tls'
import { FetchError, type FetchRequest } from '@sluice/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createHttpFetch, type DnsLookup, type HttpFetchOptions } from './index.js'

interface SeenRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

interface TestServer {
  /** `http://127.0.0.1:<port>` */
  origin: string
  port: number
  requests: SeenRequest[]
  /** TCP connections accepted so far. */
  connections: number
  /** Resolves when a connection the server accepted has closed. */
  closed: Promise<void>
}

const servers: { close(): void }[] = []

afterEach(() => {
  for (const server of servers.splice(0)) server.close()
})

/** Starts a server on 127.0.0.1 that records each request (with its body) before `handler` answers. */
async function startServer(handler: (request: SeenRequest, response: http.ServerResponse) => void) {
  let markClosed = () => {}
  const state: TestServer = {
    origin: '',
    port: 0,
    requests: [],
    connections: 0,
    closed: new Promise((resolve) => {
      markClosed = resolve
    }),
  }
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      state.requests.push(seen)
      handler(seen, response)
    })
  })
  server.on('connection', (socket) => {
    state.connections++
    socket.on('close', markClosed)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as AddressInfo).port
  state.origin = `http://127.0.0.1:${state.port}`
  servers.push({
    close() {
      server.closeAllConnections()
      server.close()
    },
  })
  return state
}

/** A server answering every request with JSON describing what it received. */
function startEchoServer() {
  return startServer((request, response) => {
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify(request))
  })
}

/** A resolver with fixed answers per host name, counting the lookups it serves. */
function fakeLookup(answers: Record<string, string[]>) {
  const state = { calls: 0 }
  const lookup: DnsLookup = (hostname, _options, callback) => {
    state.calls++
    const answer = answers[hostname]
    if (!answer) return callback(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
    callback(
      null,
      answer.map((address) => ({ address, family: isIP(address) })),
    )
  }
  return { lookup, state }
}

const local = (options: HttpFetchOptions = {}) => createHttpFetch({ allowPrivateNetworks: true, ...options })

async function rejection(promise: Promise<unknown>): Promise<FetchError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(outcome).toBeInstanceOf(FetchError)
  return outcome as FetchError
}

const text = (body: Uint8Array) => new TextDecoder().decode(body)
const json = (body: Uint8Array) => JSON.parse(text(body)) as SeenRequest

describe('createHttpFetch', () => {
  describe('requests and responses', () => {
    it('sends a GET with the caller headers and returns status, headers and body', async () => {
      const server = await startEchoServer()
      const response = await local().request({
        url: `${server.origin}/path?q=1#fragment`,
        headers: { 'X-Custom': 'yes', Accept: 'application/json' },
      })
      expect(response.status).toBe(200)
      expect(response.statusText).toBe('OK')
      expect(response.headers['content-type']).toBe('application/json')
      const seen = json(response.body)
      expect(seen).toMatchObject({ method: 'GET', url: '/path?q=1', body: '' })
      expect(seen.headers).toMatchObject({
        'x-custom': 'yes',
        accept: 'application/json',
        host: `127.0.0.1:${server.port}`,
      })
    })

    it('sends a string body as UTF-8 with its byte length', async () => {
      const server = await startEchoServer()
      const body = JSON.stringify({ name: 'ünïcødé 🦔' })
      const response = await local().request({
        url: server.origin,
        method: 'post',
        headers: { 'content-type': 'application/json' },
        body,
      })
      const seen = json(response.body)
      expect(seen).toMatchObject({ method: 'POST', body })
      expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)))
      expect(seen.headers['transfer-encoding']).toBeUndefined()
    })

    it('sends a Uint8Array body, honouring its offset into a larger buffer', async () => {
      const server = await startEchoServer()
      const bytes = new TextEncoder().encode('xxhello worldxx').subarray(2, 13)
      const response = await local().request({ url: server.origin, method: 'PUT', body: bytes })
      expect(json(response.body)).toMatchObject({ method: 'PUT', body: 'hello world' })
      expect(json(response.body).headers['content-length']).toBe('11')
    })

    it('owns the framing: caller content-length, transfer-encoding and connection headers are ignored', async () => {
      const server = await startEchoServer()
      const response = await local().request({
        url: server.origin,
        method: 'POST',
        headers: {
          'Content-Length': '1000',
          'transfer-encoding': 'chunked',
          connection: 'upgrade',
          upgrade: 'h2c',
        },
        body: 'abc',
      })
      const seen = json(response.body)
      expect(seen.body).toBe('abc')
      expect(seen.headers).toMatchObject({ 'content-length': '3' })
      expect(seen.headers).not.toHaveProperty('transfer-encoding')
      expect(seen.headers).not.toHaveProperty('upgrade')
    })

    it('returns error statuses as responses, not rejections', async () => {
      const server = await startServer((_request, response) => {
        response.statusCode = 503
        response.statusMessage = 'Try Later'
        response.end('busy')
      })
      const response = await local().request({ url: server.origin })
      expect(response).toMatchObject({ status: 503, statusText: 'Try Later' })
      expect(text(response.body)).toBe('busy')
    })

    it('lower-cases response header names and joins repeated headers with ", "', async () => {
      const server = await startServer((_request, response) => {
        response.setHeader('Set-Cookie', ['a=1', 'b=2'])
        response.setHeader('X-Multi', ['one', 'two'])
        response.setHeader('X-Single', 'only')
        response.end()
      })
      const { headers } = await local().request({ url: server.origin })
      expect(headers).toMatchObject({ 'set-cookie': 'a=1, b=2', 'x-multi': 'one, two', 'x-single': 'only' })
    })

    it('keeps a header named __proto__ as data, not as the prototype', async () => {
      const server = await startServer((_request, response) => {
        response.setHeader('__proto__', 'polluted')
        response.end()
      })
      const { headers } = await local().request({ url: server.origin })
      expect(Object.getPrototypeOf(headers)).toBe(Object.prototype)
      expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('polluted')
    })

    it('returns the body in a buffer of its own, not a view into a shared pool', async () => {
      const server = await startServer((_request, response) => response.end('small'))
      const { body } = await local().request({ url: server.origin })
      expect(body).toBeInstanceOf(Uint8Array)
      expect(text(body)).toBe('small')
      expect(body.byteOffset).toBe(0)
      expect(body.buffer.byteLength).toBe(body.byteLength)
    })

    it('sends credentials from the URL as Basic authorization and keeps them out of errors', async () => {
      const server = await startEchoServer()
      const response = await local().request({ url: `http://us%40er:p%3Ass@127.0.0.1:${server.port}/` })
      const expected = `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`
      expect(json(response.body).headers.authorization).toBe(expected)

      const error = await rejection(
        createHttpFetch().request({ url: `http://user:secret@127.0.0.1:${server.port}/?token=abc` }),
      )
      expect(error.message).not.toContain('secret')
      expect(error.message).not.toContain('abc')
    })

    it.each<[string, FetchRequest['headers'], string | undefined]>([
      ['a header value with CR LF', { 'x-evil': 'a\r\nInjected: 1' }, undefined],
      ['an invalid header name', { 'bad name': 'x' }, undefined],
      ['an invalid method', {}, 'GE T'],
    ])('refuses %s without sending anything', async (_label, headers, method) => {
      const server = await startEchoServer()
      const error = await rejection(local().request({ url: server.origin, headers, method }))
      expect(error).toMatchObject({ code: 'fetch.invalid_request', retryable: false })
      expect(server.requests).toEqual([])
    })
  })

  describe('connections: the SSRF guard, address pinning and TLS', () => {
    it('refuses a loopback target before connecting, naming the options that allow it', async () => {
      const server = await startEchoServer()
      const error = await rejection(createHttpFetch().request({ url: `${server.origin}/` }))
      expect(error).toMatchObject({ code: 'fetch.forbidden_address', retryable: false })
      expect(error.message).toContain('127.0.0.1')
      expect(error.message).toContain('allowedHosts')
      expect(error.message).toContain('allowPrivateNetworks')
      expect(server.connections).toBe(0)
    })

    it('reaches a target the operator listed in allowedHosts', async () => {
      const server = await startEchoServer()
      const response = await createHttpFetch({ allowedHosts: ['127.0.0.1'] }).request({ url: server.origin })
      expect(response.status).toBe(200)
    })

    it('resolves once, connects to the checked address, and still sends the original Host', async () => {
      const server = await startEchoServer()
      // A rebinding resolver: the first answer passes the check, later ones would point elsewhere.
      let answers = 0
      const lookup: DnsLookup = (_hostname, _options, callback) => {
        answers++
        callback(null, [{ address: answers === 1 ? '127.0.0.1' : '10.9.9.9', family: 4 }])
      }
      const fetch = createHttpFetch({ allowedHosts: ['127.0.0.1'], lookup })
      const response = await fetch.request({ url: `http://public.test:${server.port}/` })
      expect(json(response.body).headers.host).toBe(`public.test:${server.port}`)
      expect(answers).toBe(1)
    })

    it('refuses a name whose DNS answer holds one private address among public ones', async () => {
      const server = await startEchoServer()
      const { lookup } = fakeLookup({ 'mixed.test': ['93.184.216.34', '127.0.0.1'] })
      const error = await rejection(
        createHttpFetch({ lookup }).request({ url: `http://mixed.test:${server.port}/` }),
      )
      expect(error).toMatchObject({ code: 'fetch.forbidden_address' })
      expect(error.message).toContain('mixed.test resolves to 127.0.0.1')
      expect(server.connections).toBe(0)
    })

    it('sends the URL host as TLS server name (SNI), not an address or a caller Host header', async () => {
      const names: string[] = []
      const server = tls.createServer({
        SNICallback: (name, callback) => {
          names.push(name)
          callback(new Error('this test server has no certificate'), undefined)
        },
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      servers.push(server)
      const { port } = server.address() as AddressInfo
      const { lookup } = fakeLookup({ 'secure.test': ['127.0.0.1'] })
      const fetch = local({ lookup })

      const error = await rejection(
        fetch.request({ url: `https://secure.test:${port}/`, headers: { host: 'other.test' } }),
      )
      expect(error.retryable).toBe(true)
      expect(names).toEqual(['secure.test'])

      await rejection(fetch.request({ url: `https://127.0.0.1:${port}/` }))
      expect(names).toEqual(['secure.test'])
    })

    it('verifies certificates: a self-signed one is a non-retryable tls_failed', async () => {
      // A throwaway key and certificate for secure.test and 127.0.0.1, made for this test only.
      const fixture = (name: string) => readFileSync(new URL(`../test/fixtures/${name}`, import.meta.url))
      const server = https.createServer(
        { key: fixture('self-signed-key.pem'), cert: fixture('self-signed-cert.pem') },
        (_request, response) => response.end('should not be read'),
      )
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      servers.push(server)
      const { port } = server.address() as AddressInfo
      const { lookup } = fakeLookup({ 'secure.test': ['127.0.0.1'] })
      const error = await rejection(local({ lookup }).request({ url: `https://secure.test:${port}/` }))
      expect(error).toMatchObject({ code: 'fetch.tls_failed', retryable: false })
    })
  })

  describe('redirects', () => {
    /** A server whose paths map to [status, location]; anything else is echoed. */
    function startRedirectServer(routes: Record<string, [number, string | undefined]>) {
      return startServer((request, response) => {
        const route = routes[request.url]
        if (!route) {
          response.setHeader('content-type', 'application/json')
          return response.end(JSON.stringify(request))
        }
        const [status, location] = route
        response.statusCode = status
        if (location !== undefined) response.setHeader('location', location)
        response.end('redirecting')
      })
    }

    it('follows a chain of relative and absolute redirects to the final response', async () => {
      const server = await startServer((request, response) => {
        const next: Record<string, string> = {
          '/a': '/b',
          '/b': 'c?x=1',
          '/c?x=1': `http://${request.headers.host}/done`,
        }
        const location = next[request.url]
        if (location) response.writeHead(302, { location }).end()
        else response.end(`arrived at ${request.url}`)
      })
      const response = await local().request({ url: `${server.origin}/a` })
      expect(response.status).toBe(200)
      expect(text(response.body)).toBe('arrived at /done')
      expect(server.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c?x=1', '/done'])
    })

    it.each<[number, string, string, boolean]>([
      [301, 'POST', 'GET', false],
      [302, 'POST', 'GET', false],
      [303, 'POST', 'GET', false],
      [303, 'PUT', 'GET', false],
      [303, 'DELETE', 'GET', false],
      [302, 'PUT', 'PUT', true],
      [307, 'POST', 'POST', true],
      [308, 'PUT', 'PUT', true],
    ])('after a %i, a %s continues as %s (body kept: %s)', async (status, method, expected, keepsBody) => {
      const server = await startRedirectServer({ '/from': [status, '/to'] })
      const response = await local().request({
        url: `${server.origin}/from`,
        method,
        headers: { 'content-type': 'text/plain', 'x-trace': 't1' },
        body: 'payload',
      })
      const seen = json(response.body)
      expect(seen).toMatchObject({ method: expected, url: '/to', body: keepsBody ? 'payload' : '' })
      expect(seen.headers['x-trace']).toBe('t1')
      expect(seen.headers['content-type']).toBe(keepsBody ? 'text/plain' : undefined)
      expect(seen.headers['content-length']).toBe(keepsBody ? '7' : undefined)
    })

    it('keeps HEAD a HEAD after a 303', async () => {
      const server = await startRedirectServer({ '/from': [303, '/to'] })
      await local().request({ url: `${server.origin}/from`, method: 'HEAD' })
      expect(server.requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD'])
    })

    it('drops authorization and cookies when redirected to another origin, keeps them on the same one', async () => {
      const other = await startEchoServer()
      const server = await startRedirectServer({
        '/same': [302, '/echo'],
        '/away': [302, `${other.origin}/echo`],
      })
      const headers = {
        authorization: 'Bearer secret',
        cookie: 'session=1',
        'proxy-authorization': 'x',
        'x-keep': 'k',
      }

      const same = json((await local().request({ url: `${server.origin}/same`, headers })).body)
      expect(same.headers).toMatchObject({
        authorization: 'Bearer secret',
        cookie: 'session=1',
        'x-keep': 'k',
      })

      const away = json((await local().request({ url: `${server.origin}/away`, headers })).body)
      expect(away.headers['x-keep']).toBe('k')
      expect(away.headers).not.toHaveProperty('authorization')
      expect(away.headers).not.toHaveProperty('cookie')
      expect(away.headers).not.toHaveProperty('proxy-authorization')
      expect(away.headers.host).toBe(`127.0.0.1:${other.port}`)
    })

    it('returns a redirect without a Location as the response', async () => {
      const server = await startRedirectServer({ '/': [302, undefined] })
      const response = await local().request({ url: server.origin })
      expect(response.status).toBe(302)
      expect(text(response.body)).toBe('redirecting')
    })

    it('follows at most maxRedirects redirects', async () => {
      const server = await startRedirectServer({ '/loop': [302, '/loop'] })
      const error = await rejection(local({ maxRedirects: 2 }).request({ url: `${server.origin}/loop` }))
      expect(error).toMatchObject({ code: 'fetch.too_many_redirects', retryable: false })
      expect(server.requests).toHaveLength(3)

      const none = await rejection(local({ maxRedirects: 0 }).request({ url: `${server.origin}/loop` }))
      expect(none).toMatchObject({ code: 'fetch.too_many_redirects' })
    })

    it('checks every hop: a redirect to a private address is refused before connecting', async () => {
      const inside = await startEchoServer()
      const server = await startRedirectServer({
        '/to-loopback': [302, `${inside.origin}/secret`],
        '/to-metadata': [302, 'http://169.254.169.254/latest/meta-data/'],
        '/to-internal': [302, 'http://internal.test/'],
      })
      // The first hop reaches the test server as a name the operator allowed; nothing else is.
      const { lookup } = fakeLookup({ 'public.test': ['127.0.0.1'], 'internal.test': ['10.0.0.8'] })
      const fetch = createHttpFetch({ allowedHosts: ['public.test'], lookup })
      for (const path of ['/to-loopback', '/to-metadata', '/to-internal']) {
        const error = await rejection(fetch.request({ url: `http://public.test:${server.port}${path}` }))
        expect(error).toMatchObject({ code: 'fetch.forbidden_address', retryable: false })
      }
      expect(inside.connections).toBe(0)
    })

    it.each([
      ['file:///etc/passwd', 'fetch.forbidden_scheme'],
      ['gopher://127.0.0.1:6379/_INFO', 'fetch.forbidden_scheme'],
      ['http://[::1', 'fetch.invalid_url'],
    ])('refuses a redirect to %s', async (location, code) => {
      const server = await startRedirectServer({ '/': [302, location] })
      const error = await rejection(local().request({ url: server.origin }))
      expect(error).toMatchObject({ code, retryable: false })
      expect(error.message).toContain(`GET ${server.origin}/ redirected to`)
    })
  })

  describe('limits and failures', () => {
    it('times out a server that never answers, as a retryable error', async () => {
      const server = await startServer(() => {})
      const started = Date.now()
      const error = await rejection(local({ timeoutMs: 200 }).request({ url: `${server.origin}/slow` }))
      expect(error).toMatchObject({ code: 'fetch.timeout', retryable: true })
      expect(error.message).toBe(`[sluice:fetch] GET ${server.origin}/slow did not complete within 200 ms`)
      expect(Date.now() - started).toBeLessThan(2_000)
      await server.closed
    })

    it('counts reading the body against the timeout', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-length': '100' })
        response.write('partial')
      })
      const error = await rejection(local({ timeoutMs: 200 }).request({ url: server.origin }))
      expect(error).toMatchObject({ code: 'fetch.timeout', retryable: true })
    })

    it("uses the request's own timeoutMs, capped by maxTimeoutMs", async () => {
      const server = await startServer(() => {})
      const own = await rejection(local().request({ url: server.origin, timeoutMs: 150 }))
      expect(own.message).toContain('within 150 ms')
      const capped = await rejection(
        local({ maxTimeoutMs: 200 }).request({ url: server.origin, timeoutMs: 5_000 }),
      )
      expect(capped.message).toContain('within 200 ms')
      // A maxTimeoutMs below the 10 s default lowers the default with it.
      const lowered = await rejection(local({ maxTimeoutMs: 100 }).request({ url: server.origin }))
      expect(lowered.message).toContain('within 100 ms')
    })

    it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])(
      'refuses a request timeoutMs of %s',
      async (timeoutMs) => {
        const error = await rejection(local().request({ url: 'http://127.0.0.1:1/', timeoutMs }))
        expect(error).toMatchObject({ code: 'fetch.invalid_request', retryable: false })
      },
    )

    it('refuses a response whose declared length is over maxResponseBytes without reading it', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-length': '2000' })
        response.end('x'.repeat(2000))
      })
      const error = await rejection(local({ maxResponseBytes: 1000 }).request({ url: server.origin }))
      expect(error).toMatchObject({ code: 'fetch.response_too_large', retryable: false })
      expect(error.message).toContain('1000 bytes (maxResponseBytes)')
    })

    it('aborts a streamed response as soon as it passes maxResponseBytes', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream' })
        // An endless body: only the cap can end this request.
        const timer = setInterval(() => response.write(Buffer.alloc(16 * 1024)), 1)
        response.on('close', () => clearInterval(timer))
      })
      const error = await rejection(local({ maxResponseBytes: 64 * 1024 }).request({ url: server.origin }))
      expect(error).toMatchObject({ code: 'fetch.response_too_large', retryable: false })
      await server.closed
    })

    it('answers a HEAD for a resource larger than maxResponseBytes, since no body comes', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-length': '2000' })
        response.end()
      })
      const response = await local({ maxResponseBytes: 1000 }).request({ url: server.origin, method: 'HEAD' })
      expect(response.headers['content-length']).toBe('2000')
      expect(response.body.byteLength).toBe(0)
    })

    it('accepts a body of exactly maxResponseBytes', async () => {
      const server = await startServer((_request, response) => response.end('x'.repeat(1000)))
      const response = await local({ maxResponseBytes: 1000 }).request({ url: server.origin })
      expect(response.body.byteLength).toBe(1000)
    })

    it('maps a refused connection to a retryable connection_failed', async () => {
      const listener = http.createServer()
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
      const closedPort = (listener.address() as AddressInfo).port
      await new Promise((resolve) => listener.close(resolve))
      const error = await rejection(local().request({ url: `http://127.0.0.1:${closedPort}/` }))
      expect(error).toMatchObject({ code: 'fetch.connection_failed', retryable: true })
    })

    it('maps a connection dropped mid-response to a retryable error', async () => {
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-length': '100' })
        response.write('partial', () => response.socket?.destroy())
      })
      const error = await rejection(local().request({ url: server.origin }))
      expect(error).toMatchObject({ code: 'fetch.connection_failed', retryable: true })
    })

    it('maps a name that does not resolve to a retryable dns_failed', async () => {
      const { lookup } = fakeLookup({})
      const error = await rejection(createHttpFetch({ lookup }).request({ url: 'http://nowhere.test/' }))
      expect(error).toMatchObject({ code: 'fetch.dns_failed', retryable: true })
    })

    it.each(['file:///etc/passwd', 'data:text/plain,x', 'ftp://example.com/', 'javascript:alert(1)'])(
      'refuses the non-http URL %s',
      async (url) => {
        const error = await rejection(createHttpFetch().request({ url }))
        expect(error).toMatchObject({ code: 'fetch.forbidden_scheme', retryable: false })
      },
    )

    it('refuses a malformed URL', async () => {
      const error = await rejection(createHttpFetch().request({ url: 'http://exa mple.com/' }))
      expect(error).toMatchObject({ code: 'fetch.invalid_url', retryable: false })
    })
  })

  describe('options', () => {
    it.each<[string, HttpFetchOptions]>([
      ['timeoutMs 0', { timeoutMs: 0 }],
      ['timeoutMs NaN', { timeoutMs: Number.NaN }],
      ['timeoutMs above maxTimeoutMs', { timeoutMs: 20_000, maxTimeoutMs: 10_000 }],
      ['maxTimeoutMs beyond what a timer can wait', { maxTimeoutMs: 2 ** 31 }],
      ['maxResponseBytes -1', { maxResponseBytes: -1 }],
      ['maxRedirects 1.5', { maxRedirects: 1.5 }],
      ['maxRedirects -1', { maxRedirects: -1 }],
      ['an allowedHosts entry with a scheme', { allowedHosts: ['https://example.com'] }],
    ])('refuses %s', (_label, options) => {
      expect(() => createHttpFetch(options)).toThrow(
        expect.objectContaining({ code: 'fetch.invalid_option', retryable: false }),
      )
    })
  })
})
