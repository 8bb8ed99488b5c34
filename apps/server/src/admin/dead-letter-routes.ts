// /api/dead-letters: what Sluice could not process, listed, inspected and replayed.
import { DEAD_LETTER_SOURCES, isDeadLetterSource } from '@sluice/core'
import { HttpError, json, type Route } from '../http/types.js'
import type { AdminContext } from './context.js'
import { onlyKnownFields, optionalInteger, queryParam, readJsonObject } from './input.js'

const MAX_REPLAY_IDS = 1000

/** The dead-letter routes. */
export function deadLetterRoutes(context: AdminContext): Route[] {
  const { deadLetters } = context.options
  return [
    {
      method: 'GET',
      path: '/api/dead-letters',
      async handle(request) {
        const source = queryParam(request, 'source')
        if (source !== undefined && !isDeadLetterSource(source)) {
          throw new HttpError(
            400,
            `source ${source} is unknown: use one of ${DEAD_LETTER_SOURCES.join(', ')}`,
            {
              field: 'source',
            },
          )
        }
        const teamId = optionalInteger(queryParam(request, 'team'), 'team', { min: 0 })
        const configId = optionalInteger(queryParam(request, 'config'), 'config', { min: 1 })
        const limit = optionalInteger(queryParam(request, 'limit'), 'limit', { min: 1, max: 1000 })
        const after = queryParam(request, 'after')
        const entries = await deadLetters.list({
          ...(source === undefined ? {} : { source }),
          ...(teamId === undefined ? {} : { teamId }),
          ...(configId === undefined ? {} : { configId }),
          ...(limit === undefined ? {} : { limit }),
          ...(after === undefined ? {} : { after }),
        })
        const last = entries[entries.length - 1]
        return json(200, {
          deadLetters: entries,
          next: last && entries.length === (limit ?? 100) ? last.id : null,
        })
      },
    },
    {
      method: 'GET',
      path: '/api/dead-letters/:id',
      async handle(_request, params) {
        const id = params.id ?? ''
        const entry = await deadLetters.get(id)
        if (!entry) throw new HttpError(404, `no dead letter with id ${id}: GET /api/dead-letters lists them`)
        return json(200, entry)
      },
    },
    {
      method: 'POST',
      path: '/api/dead-letters/replay',
      async handle(request) {
        const { replayDeadLetters } = context.options
        if (!replayDeadLetters) throw new HttpError(501, 'dead-letter replay is not available on this server')
        const body = await readJsonObject(request)
        onlyKnownFields(body, ['ids'])
        const { ids } = body
        if (
          !Array.isArray(ids) ||
          ids.length === 0 ||
          ids.length > MAX_REPLAY_IDS ||
          !ids.every((id) => typeof id === 'string' && id !== '')
        ) {
          throw new HttpError(
            400,
            `ids must be a list of 1 to ${MAX_REPLAY_IDS} dead-letter ids (strings) from GET /api/dead-letters`,
            { field: 'ids' },
          )
        }
        return json(200, await replayDeadLetters(ids as string[]))
      },
    },
  ]
}
