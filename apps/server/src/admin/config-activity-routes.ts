// What a config does and how it fares: logs, metrics, public jobs, health.
import { type LogLevel, MAX_PAYLOAD_BYTES, oversizedPayloadBytes } from '@sluice/core'
import { HttpError, json, type Route } from '../http/types.js'
import type { AdminContext, ConfigHealthControl } from './context.js'
import { onlyKnownFields, optionalInteger, optionalTime, queryParam, readJsonObject } from './input.js'
import { validateJobPayload } from './job-payload.js'

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'log', 'info', 'warn', 'error']
/** A pause longer than a week is a disable; the operator should say so. */
const MAX_PAUSE_MS = 7 * 24 * 60 * 60 * 1000

function logLevels(value: string | undefined): LogLevel[] | undefined {
  if (value === undefined) return undefined
  const levels = value.split(',').map((level) => level.trim())
  const unknown = levels.filter((level) => !(LOG_LEVELS as readonly string[]).includes(level))
  if (unknown.length > 0) {
    throw new HttpError(
      400,
      `level ${unknown.join(', ')} is unknown: use ${LOG_LEVELS.join(', ')} (comma-separated)`,
      {
        field: 'level',
      },
    )
  }
  return levels as LogLevel[]
}

/** The logs, metrics, public job and health routes of a config. */
export function configActivityRoutes(context: AdminContext): Route[] {
  const { logSink, metricsSink, jobQueue } = context.options

  const requireHealth = (): ConfigHealthControl => {
    const { health } = context.options
    if (!health)
      throw new HttpError(
        501,
        'the health watcher is not running on this server, so there is no health state',
      )
    return health
  }

  return [
    {
      method: 'GET',
      path: '/api/configs/:id/logs',
      async handle(request, params) {
        const { config } = await context.requireConfig(params.id)
        const levels = logLevels(queryParam(request, 'level'))
        const since = optionalTime(queryParam(request, 'since'), 'since')
        const limit = optionalInteger(queryParam(request, 'limit'), 'limit', { min: 1, max: 1000 })
        const search = queryParam(request, 'search')
        const logs = await logSink.query({
          configId: config.id,
          ...(levels ? { levels } : {}),
          ...(since === undefined ? {} : { since }),
          ...(limit === undefined ? {} : { limit }),
          ...(search === undefined ? {} : { search }),
        })
        return json(200, { logs })
      },
    },
    {
      method: 'GET',
      path: '/api/configs/:id/metrics',
      async handle(_request, params) {
        const { config } = await context.requireConfig(params.id)
        return json(200, { configId: config.id, metrics: await metricsSink.read(config.id) })
      },
    },
    {
      method: 'GET',
      path: '/api/configs/:id/jobs',
      async handle(_request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const jobs = context.manifestOf(plugin).publicJobs ?? {}
        return json(200, {
          configId: config.id,
          jobs: Object.entries(jobs).map(([name, spec]) => ({ name, payload: spec.payload ?? {} })),
        })
      },
    },
    {
      method: 'POST',
      path: '/api/configs/:id/jobs/:name',
      async handle(request, params) {
        const { config, plugin } = await context.requireConfig(params.id)
        const name = params.name ?? ''
        const jobs = context.manifestOf(plugin).publicJobs ?? {}
        const spec = Object.hasOwn(jobs, name) ? jobs[name] : undefined
        if (!spec) {
          const known = Object.keys(jobs)
          throw new HttpError(
            404,
            `plugin ${plugin.name} has no public job ${name}: ${known.length > 0 ? `its public jobs are ${known.join(', ')}` : 'it declares no publicJobs in plugin.json'}`,
          )
        }
        if (!config.enabled) {
          throw new HttpError(
            409,
            `plugin config ${config.id} is disabled: enable it (PATCH {"enabled": true}) to run its jobs`,
          )
        }
        const body = await readJsonObject(request)
        onlyKnownFields(body, ['payload'])
        const validation = validateJobPayload(spec, body.payload)
        if (!validation.ok) {
          throw new HttpError(
            400,
            `the payload of job ${name} is invalid: ${validation.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
            { problems: validation.problems },
          )
        }
        const payload = JSON.stringify(validation.payload)
        const oversized = oversizedPayloadBytes(payload)
        if (oversized !== null) {
          throw new HttpError(
            413,
            `the payload of job ${name} is ${oversized} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES}`,
          )
        }
        // The shape core's plugin host enqueues for `meta.jobs.<name>(payload).runNow()`.
        const [jobId] = await jobQueue.enqueue([
          { kind: 'plugin-job', configId: config.id, name, payload, runAt: context.now() },
        ])
        return json(202, { jobId, configId: config.id, name, payload: validation.payload })
      },
    },
    {
      method: 'GET',
      path: '/api/configs/:id/health',
      async handle(_request, params) {
        const health = requireHealth()
        const { config } = await context.requireConfig(params.id)
        return json(200, { configId: config.id, health: (await health.get(config.id)) ?? null })
      },
    },
    {
      method: 'POST',
      path: '/api/configs/:id/health',
      async handle(request, params) {
        const health = requireHealth()
        const { config } = await context.requireConfig(params.id)
        const body = await readJsonObject(request)
        onlyKnownFields(body, ['action', 'ms'])
        if (body.action === 'reset') {
          if (body.ms !== undefined)
            throw new HttpError(400, 'ms goes with "pause" only: leave it out of a reset')
          await health.reset(config.id)
        } else if (body.action === 'pause') {
          const ms = optionalInteger(body.ms, 'ms', { min: 1, max: MAX_PAUSE_MS })
          if (ms === undefined)
            throw new HttpError(400, 'a pause needs ms: how long to pause, in milliseconds')
          await health.pause(config.id, ms)
        } else {
          throw new HttpError(400, 'action must be "reset" or "pause" (with ms)', { field: 'action' })
        }
        await context.changed()
        return json(200, { configId: config.id, health: (await health.get(config.id)) ?? null })
      },
    },
  ]
}
