import type { JobPayloadField, Problem, PublicJobSpec } from '@sluice/core'

/** The outcome of {@link validateJobPayload}: the payload to enqueue, or every problem by field. */
export type JobPayloadValidation =
  | { ok: true; payload: Record<string, unknown> }
  | { ok: false; problems: Problem[] }

const isDate = (value: unknown) => typeof value === 'string' && !Number.isNaN(Date.parse(value))

function checkField(field: JobPayloadField, value: unknown): string | null {
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? null : 'must be a string'
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false'
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'must be a number'
    case 'json':
      return null
    case 'date':
      return isDate(value) ? null : 'must be an ISO date, e.g. 2025-01-31T00:00:00Z'
    case 'daterange':
      return Array.isArray(value) && value.length === 2 && value.every(isDate)
        ? null
        : 'must be [from, to], two ISO dates'
  }
}

const isEmpty = (value: unknown) => value === undefined || value === null || value === ''

/**
 * Checks a payload for a public job against the job's `payload` spec from plugin.json: required
 * fields present, values of the declared type, no undeclared fields; defaults fill empty fields.
 * Messages never quote a value.
 */
export function validateJobPayload(spec: PublicJobSpec, payload: unknown): JobPayloadValidation {
  if (payload !== undefined && (typeof payload !== 'object' || payload === null || Array.isArray(payload))) {
    return {
      ok: false,
      problems: [{ field: 'payload', message: 'must be a JSON object of values by field' }],
    }
  }
  const given = (payload ?? {}) as Record<string, unknown>
  const fields = spec.payload ?? {}
  const problems: Problem[] = []
  const result: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(fields)) {
    const value = isEmpty(given[name]) ? field.default : given[name]
    if (isEmpty(value)) {
      if (field.required === true) problems.push({ field: name, message: 'is required' })
      continue
    }
    const problem = checkField(field, value)
    if (problem) problems.push({ field: name, message: problem })
    else result[name] = value
  }
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(fields, name))
      problems.push({ field: name, message: 'is not a payload field of this job' })
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, payload: result }
}
