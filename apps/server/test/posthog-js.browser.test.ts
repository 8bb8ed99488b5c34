import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCaptureRequest } from '../src/capture/decode-request.js'
import {
  BROWSER_TOKEN,
  encodingOf,
  type PosthogJsEncoding,
  type RecordedRequest,
  toCaptureRequest,
  writeFixture,
} from './posthog-js-fixtures.js'
import { startTestServer, type TestServer } from './support.js'

// The real posthog-js browser bundle in the real browser, against the real server: the request
// shapes asserted here are the ones the library produces, not ones written by hand.

const CHROMIUM = '/usr/bin/chromium'
// Flags this machine needs (and CI shares): no sandbox as root, and no background connections to
// Google's hosts, which a closed network refuses.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const CAPTURE_PATH = /^\/(e|i\/v0\/e|batch|capture|track)\/?$/

const require = createRequire(import.meta.url)
const posthogJsVersion = (require('posthog-js/package.json') as { version: string }).version

async function launchChromium(): Promise<{ browser: Browser } | { unavailable: string }> {
  if (!existsSync(CHROMIUM)) return { unavailable: `${CHROMIUM} is missing (apt-get install chromium)` }
  try {
    // playwright-core gives each launch a fresh, empty user-data-dir.
    return { browser: await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }) }
  } catch (error) {
    return { unavailable: `${CHROMIUM} does not start: ${(error as Error).message.split('\n')[0]}` }
  }
}

const launched = await launchChromium()
const skipReason = 'unavailable' in launched ? launched.unavailable : null
if (skipReason !== null) console.warn(`[posthog-js browser test] skipped: ${skipReason}`)

/** The posthog-js calls the test makes inside the page. */
interface PosthogInPage {
  init(token: string, config: Record<string, unknown>): void
  identify(distinctId: string, set?: Record<string, unknown>): void
  capture(event: string, properties?: Record<string, unknown>, options?: Record<string, unknown>): void
}
type PageGlobals = typeof globalThis & {
  posthog: PosthogInPage
  _POSTHOG_REMOTE_CONFIG?: Record<string, unknown>
}

/** What the browser sent to the server, byte for byte as it crossed the wire. */
interface RecordingProxy {
  url: string
  /** Every capture request, in the order they arrived. */
  sent: RecordedRequest[]
  /** Every answer over 399, as `<status> <method> <path>`. */
  failures: string[]
  close(): Promise<void>
}

// Playwright does not expose the body of a sendBeacon request, so the bytes are taken on the way to the
// server instead: every request is recorded, then forwarded unchanged.
async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const sent: RecordedRequest[] = []
  const failures: string[] = []
  const server = createServer((request, response) => {
    // The browser may drop a request half-sent (a beacon as the page goes, a context closing):
    // reading it then fails, and there is nothing to forward.
    forward(request, response).catch(() => response.destroy())
  })
  const forward = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const url = request.url ?? '/'
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) {
        headers.set(name, value)
      }
    }
    const answer = await fetch(`${target}${url}`, {
      method: request.method ?? 'GET',
      headers,
      ...(body.length > 0 ? { body } : {}),
    }).catch(
      (error: Error) =>
        new Response(`the proxy could not reach the server: ${error.message}`, { status: 502 }),
    )
    const answerBody = Buffer.from(await answer.arrayBuffer())
    if (request.method === 'POST' && CAPTURE_PATH.test(new URL(url, target).pathname)) {
      sent.push({ method: 'POST', url, contentType: request.headers['content-type'] ?? '', body })
    }
    if (answer.status >= 400) failures.push(`${answer.status} ${request.method} ${url}`)
    const answerHeaders: Record<string, string> = {}
    answer.headers.forEach((value, name) => {
      if (!['content-length', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)) {
        answerHeaders[name] = value
      }
    })
    response.writeHead(answer.status, answerHeaders).end(answerBody)
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    failures,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

describe.skipIf(skipReason !== null)(
  `posthog-js ${posthogJsVersion} in Chromium${skipReason === null ? '' : ` (skipped: ${skipReason})`}`,
  { timeout: 20_000 },
  () => {
    const browser = 'browser' in launched ? launched.browser : (null as never)
    let test: TestServer
    let pageServer: Server
    let pageUrl: string
    let proxy: RecordingProxy
    const recorded: Partial<Record<PosthogJsEncoding, RecordedRequest>> = {}

    beforeAll(async () => {
      test = await startTestServer()
      const bundle = await readFile(require.resolve('posthog-js/dist/array.full.js'))
      pageServer = createServer((request, response) => {
        if (request.url === '/posthog.js') {
          response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
          return
        }
        response
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>shop</title><script src="/posthog.js"></script><h1>shop</h1>')
      })
      await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve))
      pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`
      proxy = await startRecordingProxy(test.server.url)
    }, 60_000)

    afterAll(async () => {
      if (process.env.SLUICE_RECORD_FIXTURES === '1') {
        const sentBy = `posthog-js ${posthogJsVersion} (dist/array.full.js) in Chromium ${browser.version()}`
        for (const [encoding, request] of Object.entries(recorded)) {
          await writeFixture(encoding as PosthogJsEncoding, request, sentBy)
        }
      }
      await browser?.close()
      await new Promise((resolve) => pageServer?.close(resolve))
      await proxy?.close()
      await test?.stop()
    })

    /**
     * A fresh browser context (no stored ids) on the shop page with posthog-js initialised, sending to
     * the server through the recording proxy. `sent()` is the capture requests of this page alone:
     * a page closed earlier may still be sending its last beacon.
     */
    async function openShop(name: string, config: Record<string, unknown>) {
      const context = await browser.newContext()
      const page = await context.newPage()
      const url = `${pageUrl}?shop=${name}`
      await page.goto(url)
      await page.evaluate(
        ({ token, apiHost, config }) => {
          ;(globalThis as PageGlobals).posthog.init(token, {
            api_host: apiHost,
            autocapture: false,
            // Headless Chromium says so in its user agent; posthog-js drops such "bot" events unless told.
            opt_out_useragent_filter: true,
            request_queue_config: { flush_interval_ms: 250 },
            ...config,
          })
        },
        { token: BROWSER_TOKEN, apiHost: proxy.url, config },
      )
      const fromThisPage = (request: RecordedRequest) => {
        const decoded = decodeCaptureRequest(toCaptureRequest(request))
        return decoded.ok && decoded.events.some((event) => event.properties.$current_url === url)
      }
      return { page, url, sent: () => proxy.sent.filter(fromThisPage), close: () => context.close() }
    }

    /** Waits until the sink has every named event of `distinctId`, and returns them by name. */
    async function sunkEvents(distinctId: string, names: string[]) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const mine = (await test.events()).filter((event) => event.distinct_id === distinctId)
        const byName = new Map(mine.map((event) => [event.event as string, event]))
        if (names.every((name) => byName.has(name))) return byName
        if (Date.now() > deadline) {
          throw new Error(`the sink has ${[...byName.keys()].join(', ') || 'nothing'} of ${distinctId}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }

    /** The recorded request that carried `event`, decoded as the server decodes it. */
    function requestCarrying(sent: RecordedRequest[], event: string) {
      const request = sent.find((candidate) => {
        const decoded = decodeCaptureRequest(toCaptureRequest(candidate))
        return decoded.ok && decoded.events.some((captured) => captured.event === event)
      })
      if (request === undefined) throw new Error(`no recorded capture request carried '${event}'`)
      return request
    }

    it('sends gzip once the server’s remote config offers it, and the events arrive whole', async () => {
      const shop = await openShop('gzip', {})
      try {
        // Capture only after the remote config applied: without one posthog-js falls back to plain JSON.
        await shop.page.waitForFunction(
          (token) => (globalThis as PageGlobals)._POSTHOG_REMOTE_CONFIG?.[token] !== undefined,
          BROWSER_TOKEN,
          { timeout: 5_000 },
        )
        await shop.page.evaluate(() => {
          const { posthog } = globalThis as PageGlobals
          posthog.identify('user-gzip', { email: 'gzip@example.com' })
          posthog.capture('bought', { item: 'book', price: 12.5, tags: ['new', 'ünïcødé'] })
        })
        const events = await sunkEvents('user-gzip', ['$identify', 'bought'])
        expect(events.get('bought')).toMatchObject({
          team_id: 1,
          properties: { item: 'book', price: 12.5, tags: ['new', 'ünïcødé'], $lib: 'web' },
        })
        expect(events.get('$identify')).toMatchObject({ $set: { email: 'gzip@example.com' } })
        expect(shop.sent().length).toBeGreaterThan(0)
        expect(shop.sent().map(encodingOf)).toEqual(shop.sent().map(() => 'gzip'))
        expect(shop.sent().map((request) => request.contentType)).toContain('text/plain')
        // The remote config and flags endpoints answered; nothing the SDK asked for was a 404.
        expect(proxy.failures).toEqual([])
        recorded.gzip = requestCarrying(shop.sent(), 'bought')
      } finally {
        await shop.close()
      }
    })

    it('sends plain JSON with disable_compression', async () => {
      const shop = await openShop('json', {
        disable_compression: true,
        bootstrap: { distinctID: 'user-json' },
      })
      try {
        await shop.page.evaluate(() => {
          ;(globalThis as PageGlobals).posthog.capture('viewed pricing', { plan: 'pro', seats: 3 })
        })
        const events = await sunkEvents('user-json', ['$pageview', 'viewed pricing'])
        expect(events.get('viewed pricing')).toMatchObject({ properties: { plan: 'pro', seats: 3 } })
        expect(events.get('$pageview')).toMatchObject({ properties: { $current_url: shop.url } })
        expect(shop.sent().length).toBeGreaterThan(0)
        expect(shop.sent().map(encodingOf)).toEqual(shop.sent().map(() => 'json'))
        expect(proxy.failures).toEqual([])
        recorded.json = requestCarrying(shop.sent(), 'viewed pricing')
      } finally {
        await shop.close()
      }
    })

    it('sends the base64 data= form through sendBeacon, as on leaving the page', async () => {
      const shop = await openShop('beacon', {
        disable_compression: true,
        bootstrap: { distinctID: 'user-beacon' },
      })
      try {
        await shop.page.evaluate(() => {
          ;(globalThis as PageGlobals).posthog.capture(
            'left cart',
            { items: 2, note: 'a+b/c=d' },
            { transport: 'sendBeacon' },
          )
        })
        // Leaving the page sends $pageleave by beacon.
        await shop.page.goto('about:blank')
        const events = await sunkEvents('user-beacon', ['left cart', '$pageleave'])
        expect(events.get('left cart')).toMatchObject({ properties: { items: 2, note: 'a+b/c=d' } })
        expect(encodingOf(requestCarrying(shop.sent(), 'left cart'))).toBe('base64-form')
        expect(encodingOf(requestCarrying(shop.sent(), '$pageleave'))).toBe('base64-form')
        expect(proxy.failures).toEqual([])
        recorded['base64-form'] = requestCarrying(shop.sent(), 'left cart')
      } finally {
        await shop.close()
      }
    })
  },
)
