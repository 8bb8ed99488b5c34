import { createFetchDouble, createPluginTester, type PluginTester, type TestResponse } from '@sluice/testkit'
import { afterEach, describe, expect, it } from 'vitest'

const folder = new URL('..', import.meta.url)
const ENDPOINT = 'https://collector.example/v1/events'

let plugin: PluginTester | undefined
afterEach(async () => {
  await plugin?.close()
  plugin = undefined
})

/** A tester whose endpoint answers `response` (200 by default), or fails like a network error. */
const load = async (config: Record<string, unknown> = {}, response: TestResponse | Error = {}) => {
  const fetch = createFetchDouble(() => {
    if (response instanceof Error) throw response
    return response
  })
  plugin = await createPluginTester({ path: folder, config: { url: ENDPOINT, ...config }, fetch })
  return { plugin, fetch }
}

describe('http-export', () => {
  it('posts the whole batch as JSON to the configured URL', async () => {
    const { plugin, fetch } = await load()
    await plugin.exportEvents([
      { event: 'signed up', distinct_id: 'ada', properties: { plan: 'pro' } },
      { event: '$pageview', distinct_id: 'grace' },
    ])
    expect(fetch.requests).toHaveLength(1)
    const [request] = fetch.requests
    expect(request).toMatchObject({
      url: ENDPOINT,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    })
    const body = JSON.parse(String(request?.body))
    expect(body.batch).toHaveLength(2)
    expect(body.batch[0]).toMatchObject({
      event: 'signed up',
      distinct_id: 'ada',
      properties: { plan: 'pro' },
      timestamp: expect.any(String),
    })
  })

  it('sends the bearer token and the extra headers', async () => {
    const { plugin, fetch } = await load({ authToken: 's3cret', headers: '{"X-Source":"sluice"}' })
    await plugin.exportEvents([{ event: 'x' }])
    expect(fetch.requests[0]?.headers).toEqual({
      'content-type': 'application/json',
      authorization: 'Bearer s3cret',
      'x-source': 'sluice',
    })
  })

  it.each([500, 503, 429])('asks for a retry when the endpoint answers %i', async (status) => {
    const { plugin } = await load({}, { status })
    await expect(plugin.exportEvents([{ event: 'x' }])).rejects.toMatchObject({
      failure: {
        name: 'RetryError',
        message: `the endpoint answered ${status}; the batch will be retried`,
        retry: true,
      },
    })
  })

  it('asks for a retry when the endpoint cannot be reached', async () => {
    const { plugin } = await load({}, new Error('connect ECONNREFUSED'))
    await expect(plugin.exportEvents([{ event: 'x' }])).rejects.toMatchObject({
      failure: { name: 'RetryError', retry: true },
    })
  })

  it('gives up on a batch the endpoint refuses', async () => {
    const { plugin } = await load({}, { status: 400, body: 'unknown field "batch"' })
    await expect(plugin.exportEvents([{ event: 'x' }])).rejects.toMatchObject({
      failure: {
        name: 'Error',
        message: 'the endpoint refused the batch: 400 unknown field "batch"',
        retry: false,
      },
    })
  })

  it('needs a url', async () => {
    await expect(createPluginTester({ path: folder })).rejects.toThrow(
      "config of plugin 'HTTP Export' is invalid: url: is required",
    )
  })

  it('refuses a url that is not http or https in setup', async () => {
    await expect(load({ url: 'ftp://collector.example/' })).rejects.toThrow(
      'setupPlugin failed: Error: url must be an http or https URL, not ftp:',
    )
    await expect(load({ url: 'not a url' })).rejects.toThrow('url is not a valid URL')
  })

  it('refuses headers that are not an object of strings', async () => {
    await expect(load({ headers: '["X-Source"]' })).rejects.toThrow(
      'headers must be a JSON object of header names to string values',
    )
  })
})
