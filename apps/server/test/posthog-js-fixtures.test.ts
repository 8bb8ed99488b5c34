import { describe, expect, it } from 'vitest'
import { decodeCaptureRequest } from '../src/capture/decode-request.js'
import { BROWSER_TOKEN, encodingOf, readFixture, toCaptureRequest } from './posthog-js-fixtures.js'

// Requests the real posthog-js sent from Chromium (recorded by posthog-js.browser.test.ts), so the shapes
// stay covered where no browser runs.
describe('capture requests recorded from posthog-js', () => {
  const decode = async (encoding: 'gzip' | 'json' | 'base64-form') => {
    const request = await readFixture(encoding)
    expect(encodingOf(request)).toBe(encoding)
    const decoded = decodeCaptureRequest(toCaptureRequest(request))
    if (!decoded.ok) throw new Error(`the ${encoding} fixture was refused: ${decoded.reason}`)
    for (const event of decoded.events) {
      expect(event.token).toBe(BROWSER_TOKEN)
      expect(event.uuid).toMatch(/^[0-9a-f-]{36}$/)
      expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/)
      expect(event.properties).toMatchObject({ $lib: 'web', $lib_version: expect.any(String) })
    }
    return decoded.events
  }

  it('decodes the gzip body posthog-js sends as text/plain without a compression parameter', async () => {
    const events = await decode('gzip')
    expect(events.find((event) => event.event === 'bought')).toMatchObject({
      distinct_id: 'user-gzip',
      properties: { item: 'book', price: 12.5, tags: ['new', 'ünïcødé'] },
    })
  })

  it('decodes the plain JSON batch posthog-js sends with disable_compression', async () => {
    const events = await decode('json')
    expect(events.find((event) => event.event === 'viewed pricing')).toMatchObject({
      distinct_id: 'user-json',
      properties: { plan: 'pro', seats: 3 },
    })
  })

  it('decodes the base64 data= form posthog-js sends by sendBeacon', async () => {
    const events = await decode('base64-form')
    expect(events.find((event) => event.event === 'left cart')).toMatchObject({
      distinct_id: 'user-beacon',
      properties: { items: 2, note: 'a+b/c=d' },
    })
  })
})
