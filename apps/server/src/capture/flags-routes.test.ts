import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { createRouter } from '../http/router.js'
import type { HttpRequest } from '../http/types.js'
import { createFlagsRoutes } from './flags-routes.js'

const request = (method: string, path: string): HttpRequest => ({
  method,
  url: new URL(path, 'http://sluice.test'),
  headers: {},
  remoteAddress: null,
  body: async () => Buffer.from('data=e30%3D'),
})

describe('flags routes', () => {
  const route = createRouter(createFlagsRoutes())

  it('offers posthog-js gzip-js and base64 in the remote config, with flags and recording off', async () => {
    const answer = await route(request('GET', '/array/phc_abc/config'))
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({
      supportedCompression: expect.arrayContaining(['gzip-js', 'base64']),
      hasFeatureFlags: false,
      sessionRecording: false,
    })
  })

  it('serves the script form that registers the config under the token, quoting it safely', async () => {
    const token = `phc_"quoted'</script>`
    const answer = await route(request('GET', `/array/${encodeURIComponent(token)}/config.js`))
    expect(answer.headers?.['content-type']).toMatch(/^application\/javascript/)
    const window: { _POSTHOG_REMOTE_CONFIG?: Record<string, { config: unknown; siteApps: unknown[] }> } = {}
    runInNewContext(answer.body as string, { window })
    expect(window._POSTHOG_REMOTE_CONFIG?.[token]).toMatchObject({
      config: { supportedCompression: expect.arrayContaining(['gzip-js']) },
      siteApps: [],
    })
  })

  it('answers /flags and /decide with no flags, whatever the SDK sent', async () => {
    for (const path of ['/flags/?v=2&compression=base64', '/decide/?v=3']) {
      for (const method of ['GET', 'POST']) {
        const answer = await route(request(method, path))
        expect(answer.status).toBe(200)
        expect(answer.body).toMatchObject({ flags: {}, featureFlags: {}, errorsWhileComputingFlags: false })
      }
    }
    expect((await route(request('POST', '/decide'))).body).toMatchObject({
      supportedCompression: expect.arrayContaining(['gzip-js']),
    })
  })
})
