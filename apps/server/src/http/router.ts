import { HttpError, type HttpRequest, type HttpResponse, type Route, type RouteParams } from './types.js'

interface CompiledRoute {
  route: Route
  segments: readonly string[]
}

const splitPath = (path: string) => path.split('/').filter((segment) => segment !== '')

const matchSegments = (pattern: readonly string[], actual: readonly string[]): RouteParams | null => {
  if (pattern.length !== actual.length) return null
  const params: Record<string, string> = {}
  for (const [index, segment] of pattern.entries()) {
    const value = actual[index] as string
    if (segment.startsWith(':')) params[segment.slice(1)] = decodeURIComponent(value)
    else if (segment !== value) return null
  }
  return params
}

/**
 * Dispatches requests to routes by method and path (a trailing slash is ignored, as PostHog SDKs
 * send both `/batch` and `/batch/`). Unknown paths get 404 and known paths with another method
 * 405, both naming what exists.
 */
export function createRouter(routes: readonly Route[]) {
  const compiled: CompiledRoute[] = routes.map((route) => ({ route, segments: splitPath(route.path) }))
  return async (request: HttpRequest): Promise<HttpResponse> => {
    let actual: string[]
    try {
      actual = splitPath(request.url.pathname)
      for (const segment of actual) decodeURIComponent(segment)
    } catch {
      throw new HttpError(400, `the path ${request.url.pathname} is not valid percent-encoding`)
    }
    const allowed: string[] = []
    for (const { route, segments } of compiled) {
      const params = matchSegments(segments, actual)
      if (!params) continue
      if (route.method === request.method || (route.method === 'GET' && request.method === 'HEAD')) {
        return route.handle(request, params)
      }
      allowed.push(route.method)
    }
    if (allowed.length > 0) {
      throw new HttpError(
        405,
        `${request.method} is not allowed on ${request.url.pathname}; use ${allowed.join(' or ')}`,
      )
    }
    throw new HttpError(
      404,
      `nothing at ${request.url.pathname}: the capture endpoints are /batch, /capture, /e, /track, /i/v0/e and /engage; the admin API is under /api/ (docs/admin-api.md)`,
    )
  }
}
