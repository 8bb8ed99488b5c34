import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CaptureRequest } from '../src/capture/decode-request.js'

/** The encodings posthog-js sends capture requests in. */
export type PosthogJsEncoding = 'gzip' | 'json' | 'base64-form'

/** The project token the browser test initialises posthog-js with (and its recorded fixtures carry). */
export const BROWSER_TOKEN = 'phc_browser_test'

/** A capture request as the browser sent it. */
export interface RecordedRequest {
  method: string
  /** Path and query, e.g. `/e/?compression=base64&ip=0`. */
  url: string
  contentType: string
  body: Buffer
}

const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
const fixturePath = (encoding: PosthogJsEncoding) => join(fixturesDir, `posthog-js-${encoding}.txt`)

/** The encoding of a request posthog-js sent, read off its bytes, content type and query. */
export function encodingOf(request: RecordedRequest): PosthogJsEncoding | 'unknown' {
  const query = new URL(request.url, 'http://x').searchParams
  if (request.body[0] === 0x1f && request.body[1] === 0x8b) return 'gzip'
  const text = request.body.toString('utf8')
  if (
    request.contentType.startsWith('application/x-www-form-urlencoded') &&
    query.get('compression') === 'base64' &&
    text.startsWith('data=')
  ) {
    return 'base64-form'
  }
  if (request.contentType.startsWith('application/json') && text.startsWith('{')) return 'json'
  return 'unknown'
}

/** The request in the shape the capture decoder takes. */
export function toCaptureRequest(request: RecordedRequest): CaptureRequest {
  const url = new URL(request.url, 'http://x')
  return {
    method: request.method,
    path: url.pathname,
    query: url.searchParams,
    headers: { 'content-type': request.contentType },
    body: request.body,
  }
}

/** Writes a recorded request as `test/fixtures/posthog-js-<encoding>.txt`. */
export async function writeFixture(
  encoding: PosthogJsEncoding,
  request: RecordedRequest,
  /** Which SDK and browser sent it, e.g. `posthog-js 1.434.18 (dist/array.full.js) in Chromium 156`. */
  sentBy: string,
): Promise<void> {
  const text = [
    `# A ${encoding} capture request that ${sentBy} sent to Sluice, recorded by`,
    '# test/posthog-js.browser.test.ts; re-record: SLUICE_RECORD_FIXTURES=1 pnpm --filter @sluice/server',
    '# exec vitest run test/posthog-js.browser.test.ts. The body is stored base64, byte for byte.',
    `${request.method} ${request.url}`,
    `content-type: ${request.contentType}`,
    `body-base64: ${request.body.toString('base64')}`,
    '',
  ].join('\n')
  await writeFile(fixturePath(encoding), text)
}

/** Reads a request recorded by {@link writeFixture}. */
export async function readFixture(encoding: PosthogJsEncoding): Promise<RecordedRequest> {
  const lines = (await readFile(fixturePath(encoding), 'utf8'))
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
  const [requestLine = '', ...fields] = lines
  const [method = '', url = ''] = requestLine.split(' ')
  const field = (name: string) => {
    const line = fields.find((candidate) => candidate.startsWith(`${name}: `))
    if (line === undefined) throw new Error(`${fixturePath(encoding)} has no '${name}:' line: re-record it`)
    return line.slice(name.length + 2)
  }
  return {
    method,
    url,
    contentType: field('content-type'),
    body: Buffer.from(field('body-base64'), 'base64'),
  }
}
