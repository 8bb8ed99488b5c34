import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createHttpServer, type HttpServer } from './node-server.js'
import { HttpError } from './types.js'

describe('createHttpServer', () => {
  let server: HttpServer | null = null
  afterEach(async () => {
    await server?.close()
    server = null
  })

  const start = async (handle: Parameters<typeof createHttpServer>[0]['handle'], errors: unknown[] = []) => {
    server = await createHttpServer(
      { handle, maxBodyBytes: 16, onError: (error) => errors.push(error) },
      { host: '127.0.0.1', port: 0 },
    )
    return server.url
  }

  it('sends objects as JSON with CORS headers and answers preflights', async () => {
    const url = await start(async (request) => ({
      status: 201,
      body: { path: request.url.pathname, body: (await request.body()).toString() },
    }))
    const response = await fetch(`${url}/x?y=1`, { method: 'POST', body: 'hello' })
    expect(response.status).toBe(201)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(await response.json()).toEqual({ path: '/x', body: 'hello' })
    const preflight = await fetch(`${url}/batch`, { method: 'OPTIONS' })
    expect(preflight.status).toBe(204)
  })

  it('answers 413 for bodies over the limit and the HttpError message for 4xx', async () => {
    const url = await start(async (request) => {
      await request.body()
      throw new HttpError(422, 'the config is wrong: fix it', { problems: ['a'] })
    })
    const tooBig = await fetch(url, { method: 'POST', body: 'x'.repeat(17) })
    expect(tooBig.status).toBe(413)
    expect(((await tooBig.json()) as { error: string }).error).toContain('larger than 16 bytes')
    const invalid = await fetch(url, { method: 'POST', body: 'ok' })
    expect(invalid.status).toBe(422)
    expect(await invalid.json()).toEqual({ error: 'the config is wrong: fix it', problems: ['a'] })
  })

  it('takes a body the client cut off for a 400 (the client’s doing), not a failure to report', async () => {
    const errors: unknown[] = []
    let failure: unknown
    const url = await start(async (request) => {
      try {
        await request.body()
      } catch (error) {
        failure = error
        throw error
      }
      return { status: 200 }
    }, errors)
    const socket = connect(Number(new URL(url).port), '127.0.0.1')
    socket.write('POST /batch HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nhalf')
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.destroy()
    for (let i = 0; i < 100 && failure === undefined; i++)
      await new Promise((resolve) => setTimeout(resolve, 10))
    expect(failure).toBeInstanceOf(HttpError)
    expect(failure).toMatchObject({ status: 400, message: expect.stringContaining('cut off') })
    expect(errors).toEqual([])
  })

  it('hides unexpected failures behind a 500 and reports them', async () => {
    const errors: unknown[] = []
    const url = await start(async () => {
      throw new Error('database password is hunter2')
    }, errors)
    const response = await fetch(url)
    expect(response.status).toBe(500)
    expect(await response.text()).not.toContain('hunter2')
    expect(errors).toHaveLength(1)
  })
})
