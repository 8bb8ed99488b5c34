// Drives the admin routes through the real router over the memory adapters, as the HTTP server
// would (no sockets): requests in, `{ status, body, text }` out, every response text kept.
import {
  createMemoryDeadLetterStore,
  createMemoryJobQueue,
  createMemoryLogSink,
  createMemoryMetricsSink,
  createMemoryRegistry,
} from '@sluice/memory'
import { type AdminApiOptions, createAdminRoutes } from '../src/admin/index.js'
import { createRouter } from '../src/http/router.js'
import { HttpError, type HttpRequest } from '../src/http/types.js'

/** The token the harness configures and sends by default. */
export const TOKEN = 'test-admin-token-0123456789'

/** What a request sends: a JSON value, or raw bytes/text with a content type. */
export interface CallOptions {
  json?: unknown
  raw?: string | Uint8Array
  contentType?: string
  /** `null` sends no Authorization header. */
  token?: string | null
  headers?: Record<string, string>
  /** The server's default body limit, as `createHttpServer` applies it. */
  maxBodyBytes?: number
}

/** A response as a client sees it. */
export interface CallResult {
  status: number
  headers: Readonly<Record<string, string>>
  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields freely
  body: any
  text: string
}

/** A plugin that uses every admin feature: a secret, an attachment, a choice, public jobs. */
export const PLUGIN_FILES = {
  'plugin.json': JSON.stringify({
    name: 'hello',
    description: 'says hello',
    url: 'https://example.com/hello',
    config: [
      { key: 'greeting', name: 'Greeting', type: 'string', default: 'hi' },
      { key: 'apiKey', name: 'API key', type: 'string', required: true, secret: true },
      { key: 'mode', type: 'choice', choices: ['fast', 'slow'], default: 'fast' },
      { key: 'settings', type: 'json' },
      { key: 'certificate', type: 'attachment', required_if: [['mode', 'slow']] },
    ],
    publicJobs: {
      backfill: {
        payload: {
          from: { type: 'date', required: true },
          dryRun: { type: 'boolean', default: false },
          limit: { type: 'number' },
        },
      },
      ping: {},
    },
  }),
  'index.ts':
    'export function processEvent(event) { return event }\nexport const jobs = { backfill() {}, ping() {} }\n',
}

/** The memory ports, the routes over them, and a `call` that goes through the router. */
export function createAdminHarness(overrides: Partial<AdminApiOptions> = {}) {
  const ports = {
    registry: createMemoryRegistry(),
    logSink: createMemoryLogSink(),
    metricsSink: createMemoryMetricsSink(),
    deadLetters: createMemoryDeadLetterStore(),
    jobQueue: createMemoryJobQueue(),
  }
  const announcements: number[] = []
  const transcript: string[] = []
  const handle = createRouter(
    createAdminRoutes({
      verifyToken: (presented) => presented === TOKEN,
      ...ports,
      announceConfigChange: async () => {
        announcements.push(announcements.length + 1)
      },
      now: () => 1_700_000_000_000,
      ...overrides,
    }),
  )

  const call = async (method: string, path: string, options: CallOptions = {}): Promise<CallResult> => {
    const bytes =
      options.json !== undefined
        ? Buffer.from(JSON.stringify(options.json))
        : Buffer.from(options.raw ?? new Uint8Array())
    const headers: Record<string, string> = { ...options.headers }
    const token = options.token === undefined ? TOKEN : options.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    const contentType = options.contentType ?? (options.json !== undefined ? 'application/json' : undefined)
    if (contentType) headers['content-type'] = contentType
    const request: HttpRequest = {
      method,
      url: new URL(path, 'http://sluice.test'),
      headers,
      remoteAddress: '127.0.0.1',
      body: async (maxBytes = options.maxBodyBytes ?? 1024 * 1024) => {
        if (bytes.length > maxBytes)
          throw new HttpError(413, `the request body is larger than ${maxBytes} bytes`)
        return bytes
      },
    }
    let status: number
    let body: unknown
    let responseHeaders: Readonly<Record<string, string>> = {}
    try {
      const response = await handle(request)
      status = response.status
      body = response.body
      responseHeaders = response.headers ?? {}
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      status = error.status
      body = { error: error.message, ...error.details }
    }
    const text = body === undefined ? '' : JSON.stringify(body)
    transcript.push(text)
    return { status, headers: responseHeaders, body: text === '' ? undefined : JSON.parse(text), text }
  }

  /** Installs {@link PLUGIN_FILES} (or the given files) and returns the plugin id. */
  const installPlugin = async (files: Record<string, string> = PLUGIN_FILES): Promise<number> => {
    const result = await call('POST', '/api/plugins', { json: { files } })
    if (result.status !== 201) throw new Error(`install failed: ${result.text}`)
    return result.body.id
  }

  return { ...ports, call, installPlugin, announcements, transcript }
}
