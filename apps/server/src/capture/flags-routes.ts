import type { HttpRequest, HttpResponse, Route, RouteParams } from '../http/types.js'

// The body encodings the capture endpoints decode, in the names of PostHog's remote config. posthog-js
// picks `gzip-js` from this list; without a remote config it falls back to uncompressed JSON.
const SUPPORTED_COMPRESSION = ['gzip', 'gzip-js', 'base64'] as const

// The remote config for PostHog's browser SDK: the encodings Sluice decodes, and every feature it does
// not serve switched off, so the SDK neither asks for flags on load nor records what nothing receives.
const remoteConfig = (): Record<string, unknown> => ({
  supportedCompression: [...SUPPORTED_COMPRESSION],
  hasFeatureFlags: false,
  sessionRecording: false,
  surveys: false,
  heatmaps: false,
  siteApps: [],
})

// Sluice evaluates no feature flags: every flag is off, which is also what the SDK assumes for a
// flag it does not know, so code behind flags keeps its default path.
const noFlags = { flags: {}, featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false }

/**
 * The PostHog endpoints browser SDKs call besides capture, answered so they work against Sluice
 * instead of logging 404s: the remote config (`/array/:token/config` and its script form
 * `config.js`), `/flags` and the older `/decide` (which carried the remote config itself), both
 * with no flags.
 */
export function createFlagsRoutes(): Route[] {
  // The script form registers the config under the token, where the SDK looks it up.
  const configScript = async (_request: HttpRequest, params: RouteParams): Promise<HttpResponse> => ({
    status: 200,
    headers: { 'content-type': 'application/javascript; charset=utf-8' },
    body: `(function (w) {
  w._POSTHOG_REMOTE_CONFIG = w._POSTHOG_REMOTE_CONFIG || {}
  w._POSTHOG_REMOTE_CONFIG[${JSON.stringify(params.token)}] = ${JSON.stringify({ config: remoteConfig(), siteApps: [] })}
})(window)
`,
  })
  const answer = (body: object) => async (): Promise<HttpResponse> => ({ status: 200, body })
  return [
    { method: 'GET', path: '/array/:token/config', handle: answer(remoteConfig()) },
    { method: 'GET', path: '/array/:token/config.js', handle: configScript },
    ...(['GET', 'POST'] as const).flatMap((method) => [
      { method, path: '/flags', handle: answer(noFlags) },
      { method, path: '/decide', handle: answer({ ...remoteConfig(), ...noFlags }) },
    ]),
  ]
}
