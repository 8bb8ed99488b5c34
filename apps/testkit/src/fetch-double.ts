import { type Fetch, FetchError, type FetchRequest, type FetchResponse } from '@sluice/core'

/** A response as a test describes it; everything is optional. */
export interface TestResponse {
  /** @default 200 */
  status?: number
  /** @default '' */
  statusText?: string
  headers?: Record<string, string>
  /**
   * The body: a string as is, anything else as JSON (with `content-type: application/json`
   * unless `headers` name one).
   * @default ''
   */
  body?: unknown
}

/**
 * Answers one request. Throwing (or rejecting) makes the plugin's `fetch` fail as a network
 * error would.
 */
export type FetchHandler = (request: FetchRequest) => TestResponse | Promise<TestResponse>

/** A {@link Fetch} port that answers from a handler and records every request. */
export interface FetchDouble extends Fetch {
  /** Every request so far, oldest first (bodies as the plugin sent them). */
  readonly requests: readonly FetchRequest[]
}

const encoder = new TextEncoder()

function toFetchResponse(response: TestResponse): FetchResponse {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = value
  let body = ''
  if (typeof response.body === 'string') body = response.body
  else if (response.body !== undefined) {
    body = JSON.stringify(response.body)
    headers['content-type'] ??= 'application/json'
  }
  return {
    status: response.status ?? 200,
    statusText: response.statusText ?? '',
    headers,
    body: encoder.encode(body),
  }
}

/**
 * Creates a Fetch double to pass as `fetch` to `createPluginTester`: the plugin's `fetch` (and
 * `posthog.api`) requests go to `handler` instead of the network.
 *
 * @param handler answers each request.
 * @default handler answers `200` with an empty body.
 * @example
 * const fetch = createFetchDouble((request) =>
 *   request.url.endsWith('/down') ? { status: 503 } : { body: { ok: true } },
 * )
 * const plugin = await createPluginTester({ path: '.', fetch })
 * fetch.requests[0]?.url
 */
export function createFetchDouble(handler: FetchHandler = () => ({})): FetchDouble {
  const requests: FetchRequest[] = []
  return {
    requests,
    async request(request) {
      requests.push(request)
      return toFetchResponse(await handler(request))
    },
  }
}

/** The Fetch a tester uses when the test gives none: every request fails, saying what to do. */
export const noFetch: Fetch = {
  request: (request) =>
    Promise.reject(
      new FetchError(
        `no HTTP client in this test, so ${request.method ?? 'GET'} ${request.url} was not sent — pass \`fetch\` to createPluginTester (createFetchDouble makes one)`,
        { retryable: false, code: 'fetch.not-configured', component: 'testkit' },
      ),
    ),
}
