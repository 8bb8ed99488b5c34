import { describe, expect, it } from 'vitest'
import { createRouter } from './router.js'
import { HttpError, type HttpRequest, type Route } from './types.js'

const request = (method: string, path: string): HttpRequest => ({
  method,
  url: new URL(path, 'http://test.invalid'),
  headers: {},
  remoteAddress: null,
  body: async () => Buffer.alloc(0),
})

const echo =
  (name: string): Route['handle'] =>
  async (_request, params) => ({ status: 200, body: { name, params } })

describe('createRouter', () => {
  const route = createRouter([
    { method: 'GET', path: '/api/configs/:id', handle: echo('get') },
    { method: 'PATCH', path: '/api/configs/:id', handle: echo('patch') },
    { method: 'PUT', path: '/api/configs/:id/attachments/:key', handle: echo('put') },
    { method: 'POST', path: '/batch', handle: echo('batch') },
  ])

  it('matches by method and path, decodes parameters and ignores a trailing slash', async () => {
    expect((await route(request('GET', '/api/configs/3'))).body).toEqual({ name: 'get', params: { id: '3' } })
    expect((await route(request('PUT', '/api/configs/3/attachments/my%20file'))).body).toEqual({
      name: 'put',
      params: { id: '3', key: 'my file' },
    })
    expect((await route(request('POST', '/batch/'))).body).toMatchObject({ name: 'batch' })
    expect((await route(request('HEAD', '/api/configs/3'))).body).toMatchObject({ name: 'get' })
  })

  it('answers 405 naming the allowed methods, and 404 for unknown paths', async () => {
    await expect(route(request('DELETE', '/api/configs/3'))).rejects.toMatchObject({
      status: 405,
      message: 'DELETE is not allowed on /api/configs/3; use GET or PATCH',
    })
    await expect(route(request('GET', '/nope'))).rejects.toBeInstanceOf(HttpError)
    await expect(route(request('GET', '/nope'))).rejects.toMatchObject({ status: 404 })
    await expect(route(request('GET', '/api/configs/%E0'))).rejects.toMatchObject({ status: 400 })
  })
})
