/** An outgoing HTTP request (plugin `fetch`, `posthog.api`, webhook delivery, HTTP sinks). */
export interface FetchRequest {
  url: string
  /** @default 'GET' */
  method?: string
  headers?: Readonly<Record<string, string>>
  body?: string | Uint8Array
  /**
   * Abort after this long.
   * @default 10000
   */
  timeoutMs?: number
}

/** A response, fully read (bodies are capped by the adapter). */
export interface FetchResponse {
  status: number
  statusText: string
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>
  body: Uint8Array
}

/**
 * Port: HTTP out. Adapters enforce the SSRF guard (no loopback, private, link-local or metadata
 * targets unless allowed), the timeout and the response size cap, and reject with a `FetchError`.
 */
export interface Fetch {
  request(request: FetchRequest): Promise<FetchResponse>
}
