import { gzipSync } from 'node:zlib'
import LZString from 'lz-string'
import { describe, expect, it } from 'vitest'
import { type CaptureRequest, decodeCaptureRequest } from './decode-request.js'

const encoder = new TextEncoder()

function request(body: string | Uint8Array, overrides: Partial<CaptureRequest> = {}): CaptureRequest {
  return {
    method: 'POST',
    path: '/e/',
    query: new URLSearchParams(),
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? encoder.encode(body) : body,
    ...overrides,
  }
}

const pageview = { event: '$pageview', distinct_id: 'ada', properties: { $current_url: 'https://a.example' } }
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64')

describe('decodeCaptureRequest: payload shapes', () => {
  it('reads one JSON event with its api_key', () => {
    expect(decodeCaptureRequest(request(JSON.stringify({ ...pageview, api_key: 'phc_1' })))).toEqual({
      ok: true,
      events: [
        {
          token: 'phc_1',
          event: '$pageview',
          distinct_id: 'ada',
          properties: { $current_url: 'https://a.example' },
        },
      ],
    })
  })

  it('reads a posthog-node style { api_key, batch, sent_at } with uuids and timestamps', () => {
    const uuid = '0190a0b4-7c1e-7a51-9d3c-5b2f4a7e9c10'
    const body = {
      api_key: 'phc_node',
      sent_at: '2026-11-21T10:00:01.000Z',
      batch: [
        { ...pageview, uuid, timestamp: '2026-11-21T10:00:00.000Z', type: 'capture' },
        { event: 'signup', distinct_id: 42, properties: { plan: 'pro' } },
      ],
    }
    const decoded = decodeCaptureRequest(request(JSON.stringify(body), { path: '/batch/' }))
    expect(decoded).toMatchObject({
      ok: true,
      events: [
        {
          token: 'phc_node',
          uuid,
          timestamp: '2026-11-21T10:00:00.000Z',
          sent_at: '2026-11-21T10:00:01.000Z',
        },
        { token: 'phc_node', event: 'signup', distinct_id: '42', properties: { plan: 'pro' } },
      ],
    })
  })

  it('reads a bare array of events, each carrying its token in properties', () => {
    const body = [
      { ...pageview, properties: { token: 'phc_a' } },
      { ...pageview, properties: { token: 'phc_b' } },
    ]
    const decoded = decodeCaptureRequest(request(JSON.stringify(body)))
    expect(decoded.ok && decoded.events.map((e) => e.token)).toEqual(['phc_a', 'phc_b'])
  })

  it('prefers the event’s own token, then its properties’, then the payload’s, then the query’s', () => {
    const query = new URLSearchParams({ token: 'phc_query' })
    const decoded = decodeCaptureRequest(
      request(
        JSON.stringify({
          api_key: 'phc_payload',
          batch: [
            { ...pageview, token: 'phc_event', properties: { token: 'phc_props' } },
            { ...pageview, properties: { token: 'phc_props' } },
            pageview,
          ],
        }),
        { query },
      ),
    )
    expect(decoded.ok && decoded.events.map((e) => e.token)).toEqual([
      'phc_event',
      'phc_props',
      'phc_payload',
    ])
    const fromQuery = decodeCaptureRequest(request(JSON.stringify(pageview), { query }))
    expect(fromQuery.ok && fromQuery.events[0]?.token).toBe('phc_query')
  })

  it('takes distinct_id from properties, $set and $set_once from the event or its properties', () => {
    const decoded = decodeCaptureRequest(
      request(
        JSON.stringify({
          api_key: 'k',
          event: 'e',
          properties: { distinct_id: 'from-props', $set: { a: 1 } },
          $set_once: { b: 2 },
        }),
      ),
    )
    expect(decoded).toMatchObject({
      ok: true,
      events: [{ distinct_id: 'from-props', $set: { a: 1 }, $set_once: { b: 2 } }],
    })
  })

  it('turns an /engage update without an event name into $identify', () => {
    const body = { api_key: 'k', distinct_id: 'ada', $set: { email: 'ada@example.com' } }
    expect(decodeCaptureRequest(request(JSON.stringify(body), { path: '/engage/' }))).toMatchObject({
      ok: true,
      events: [{ event: '$identify', distinct_id: 'ada', $set: { email: 'ada@example.com' } }],
    })
  })

  it('keeps a well-formed uuid (lower-cased) and drops one that is not a uuid', () => {
    const decoded = decodeCaptureRequest(
      request(
        JSON.stringify({
          api_key: 'k',
          batch: [
            { ...pageview, uuid: '0190A0B4-7C1E-7A51-9D3C-5B2F4A7E9C10' },
            { ...pageview, uuid: 'not-a-uuid' },
          ],
        }),
      ),
    )
    expect(decoded.ok && decoded.events.map((e) => e.uuid)).toEqual([
      '0190a0b4-7c1e-7a51-9d3c-5b2f4a7e9c10',
      undefined,
    ])
  })
})

describe('decodeCaptureRequest: encodings', () => {
  const payload = { api_key: 'phc_enc', batch: [pageview] }
  const expectPageview = (decoded: ReturnType<typeof decodeCaptureRequest>) =>
    expect(decoded).toMatchObject({
      ok: true,
      events: [{ token: 'phc_enc', event: '$pageview', distinct_id: 'ada' }],
    })

  it('gunzips a body sent with Content-Encoding: gzip', () => {
    const body = gzipSync(JSON.stringify(payload))
    expectPageview(decodeCaptureRequest(request(body, { headers: { 'content-encoding': 'gzip' } })))
  })

  it('gunzips posthog-js’ ?compression=gzip-js text/plain bodies, and gzip bodies sent without saying so', () => {
    const body = gzipSync(JSON.stringify(payload))
    const query = new URLSearchParams({ compression: 'gzip-js', ver: '1.200.0' })
    expectPageview(decodeCaptureRequest(request(body, { query, headers: { 'content-type': 'text/plain' } })))
    expectPageview(decodeCaptureRequest(request(body, { headers: {} })))
  })

  it('reads the base64 data= form, with + kept or turned into a space by form encoding', () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    // A payload whose base64 contains '+', sent once escaped and once raw.
    const plus = { api_key: 'phc_enc', batch: [{ ...pageview, properties: { note: '>>>?' } }] }
    const encoded = base64(plus)
    expect(encoded).toContain('+')
    expectPageview(decodeCaptureRequest(request(form({ data: encoded }), { headers })))
    expectPageview(decodeCaptureRequest(request(`data=${encoded}`, { headers })))
  })

  it('reads lz64 (lz-string base64) data with compression=lz64 in the form or the query', () => {
    const data = LZString.compressToBase64(JSON.stringify(payload))
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    expectPageview(decodeCaptureRequest(request(form({ data, compression: 'lz64' }), { headers })))
    const query = new URLSearchParams({ compression: 'lz64' })
    expectPageview(decodeCaptureRequest(request(form({ data }), { headers, query })))
  })

  it('reads data= from the query of a GET, as browser beacons send it', () => {
    const query = new URLSearchParams({ data: base64(payload), ip: '1' })
    expectPageview(decodeCaptureRequest(request('', { method: 'GET', query, headers: {} })))
  })

  it('reads plain JSON in a data= field', () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    expectPageview(decodeCaptureRequest(request(form({ data: JSON.stringify(payload) }), { headers })))
  })
})

describe('decodeCaptureRequest: bad requests say what is wrong', () => {
  const reject = (decoded: ReturnType<typeof decodeCaptureRequest>) => (decoded.ok ? null : decoded)

  it('401 without any project token', () => {
    expect(reject(decodeCaptureRequest(request(JSON.stringify(pageview))))).toEqual({
      ok: false,
      status: 401,
      reason: 'no project API key: send it as "api_key" (or "token") in the body, or as ?token= in the query',
    })
  })

  it('400 for JSON that does not parse, naming the parser’s complaint', () => {
    expect(reject(decodeCaptureRequest(request('{"event": ')))).toMatchObject({
      status: 400,
      reason: expect.stringMatching(/^the body is not valid JSON \(.+\)$/),
    })
  })

  it('400 for a body that claims gzip but is not', () => {
    const decoded = decodeCaptureRequest(request('plain text', { headers: { 'content-encoding': 'gzip' } }))
    expect(reject(decoded)).toMatchObject({ status: 400, reason: expect.stringContaining('not valid gzip') })
  })

  it('400 for an encoding it cannot read', () => {
    const decoded = decodeCaptureRequest(request('x', { headers: { 'content-encoding': 'br' } }))
    expect(reject(decoded)).toMatchObject({
      status: 400,
      reason: "unsupported Content-Encoding 'br': send the body plain or gzip-compressed",
    })
  })

  it('413 when the decoded body is over the limit, also for a small gzip bomb', () => {
    const bomb = gzipSync(JSON.stringify({ api_key: 'k', batch: [pageview], pad: 'x'.repeat(5_000_000) }))
    expect(bomb.length).toBeLessThan(10_000)
    const decoded = decodeCaptureRequest(request(bomb, { headers: { 'content-encoding': 'gzip' } }), {
      maxDecodedBytes: 1_000_000,
    })
    expect(reject(decoded)).toMatchObject({
      status: 413,
      reason: expect.stringContaining('over 1000000 bytes'),
    })
  })

  it('400 for an empty body, an empty batch and a payload that is not an event', () => {
    expect(reject(decodeCaptureRequest(request('')))?.reason).toBe(
      'the request has no events: send JSON in the body, or a data= field',
    )
    expect(reject(decodeCaptureRequest(request('{"api_key":"k","batch":[]}')))?.reason).toBe(
      'the request has no events',
    )
    expect(reject(decodeCaptureRequest(request('"hello"')))?.status).toBe(400)
  })

  it('400 naming every invalid event, and nothing accepted from that request', () => {
    const body = {
      api_key: 'k',
      batch: [pageview, { distinct_id: 'x' }, { event: 'e', distinct_id: {} }, 7],
    }
    expect(reject(decodeCaptureRequest(request(JSON.stringify(body))))).toEqual({
      ok: false,
      status: 400,
      reason:
        'nothing was queued: event 1: "event" must be a non-empty string; ' +
        'event 2: "distinct_id" must be a non-empty string or a number; event 3 is not a JSON object',
    })
  })
})
