import { RegistryError, ValidationError } from '@sluice/core'
import { HttpError, type HttpRequest, type HttpResponse, json, type Route } from '../http/types.js'
import { configActivityRoutes } from './config-activity-routes.js'
import { configRoutes } from './config-routes.js'
import { type AdminApiOptions, createAdminContext } from './context.js'
import { deadLetterRoutes } from './dead-letter-routes.js'
import { pluginRoutes } from './plugin-routes.js'

const DEFAULT_TOKEN_HINT = 'the token is the server setting SLUICE_ADMIN_TOKEN'

function unauthorized(message: string): HttpResponse {
  return {
    status: 401,
    headers: { 'www-authenticate': 'Bearer realm="sluice-admin"' },
    body: { error: message },
  }
}

/** The 401 for a request without the right token, or null when the token matches. */
function checkToken(
  request: HttpRequest,
  verify: (presented: string) => boolean,
  hint: string,
): HttpResponse | null {
  const header = request.headers.authorization
  if (header === undefined || header === '') {
    return unauthorized(`the admin API needs an Authorization: Bearer <token> header; ${hint}`)
  }
  const match = /^Bearer +(\S+)\s*$/i.exec(header)
  if (!match?.[1]) {
    return unauthorized(`the Authorization header must be "Bearer <token>"; ${hint}`)
  }
  if (!verify(match[1])) {
    return unauthorized(`the bearer token is wrong; ${hint}`)
  }
  return null
}

const problemSummary = (error: ValidationError) => error.message.replace(/^\[sluice:[^\]]+\] /, '')

/** Turns input errors from core and the plugin reader into 4xx answers; anything else stays a 500. */
function toHttpError(error: unknown): unknown {
  if (error instanceof ValidationError) {
    return new HttpError(400, `${problemSummary(error)} — fix the problems listed`, {
      problems: error.problems,
    })
  }
  // A record removed by another request between the look-up and the write.
  if (error instanceof RegistryError && /not_found$/.test(error.code)) {
    return new HttpError(404, `${error.message.replace(/^\[sluice:[^\]]+\] /, '')}`)
  }
  return error
}

/**
 * The admin API (SPEC §5): plugins, plugin configs with attachments, logs, metrics, public jobs,
 * health, dead letters and reload, all under `/api/`. Every route requires
 * `Authorization: Bearer <token>`; bodies are JSON (archives and attachments raw), and every 4xx
 * body is `{ error, ...details }` saying what was wrong and what to do. Hand the routes to
 * `createRouter` with the app's other routes.
 */
export function createAdminRoutes(options: AdminApiOptions): Route[] {
  const hint = options.tokenHint ?? DEFAULT_TOKEN_HINT
  const context = createAdminContext(options)
  const routes: Route[] = [
    ...pluginRoutes(context),
    ...configRoutes(context),
    ...configActivityRoutes(context),
    ...deadLetterRoutes(context),
    {
      method: 'POST',
      path: '/api/reload',
      async handle() {
        await context.changed()
        return json(202, { reloading: true })
      },
    },
  ]
  return routes.map((route) => ({
    ...route,
    async handle(request, params) {
      const denied = checkToken(request, options.verifyToken, hint)
      if (denied) return denied
      try {
        return await route.handle(request, params)
      } catch (error) {
        throw toHttpError(error)
      }
    },
  }))
}
