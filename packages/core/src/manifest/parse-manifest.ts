import { type Problem, ValidationError } from '../errors.js'
import type {
  ConfigCondition,
  ConfigField,
  ConfigFieldType,
  JobPayloadField,
  JobPayloadFieldType,
  PluginManifest,
  PublicJobSpec,
} from './types.js'

const CONFIG_FIELD_TYPES: readonly ConfigFieldType[] = ['string', 'json', 'attachment', 'choice']
const JOB_PAYLOAD_TYPES: readonly JobPayloadFieldType[] = [
  'string',
  'boolean',
  'json',
  'number',
  'date',
  'daterange',
]

type JsonObject = Record<string, unknown>

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads an own property only, so keys like `constructor` never reach `Object.prototype`. */
function own(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return type === 'object' ? 'an object' : `a ${type}`
}

/** Collects problems while reading one plugin.json. */
class ManifestReader {
  readonly problems: Problem[] = []

  problem(field: string, message: string): void {
    this.problems.push({ field, message })
  }

  optionalString(object: JsonObject, key: string, path: string): string | undefined {
    const value = own(object, key)
    if (value === undefined) return undefined
    if (typeof value === 'string') return value
    this.problem(path, `must be a string, not ${describeType(value)}`)
    return undefined
  }

  optionalBoolean(object: JsonObject, key: string, path: string): boolean | undefined {
    const value = own(object, key)
    if (value === undefined) return undefined
    if (typeof value === 'boolean') return value
    this.problem(path, `must be true or false, not ${describeType(value)}`)
    return undefined
  }

  manifest(raw: unknown): PluginManifest | undefined {
    if (!isObject(raw)) {
      this.problem('plugin.json', `must be a JSON object, not ${describeType(raw)}`)
      return undefined
    }
    const name = own(raw, 'name')
    if (name === undefined) this.problem('name', 'is required')
    else if (typeof name !== 'string') this.problem('name', `must be a string, not ${describeType(name)}`)
    else if (name.trim() === '') this.problem('name', 'must not be empty')

    const url = this.optionalString(raw, 'url', 'url')
    const description = this.optionalString(raw, 'description', 'description')
    const main = this.optionalString(raw, 'main', 'main')
    if (main !== undefined && main.trim() === '')
      this.problem('main', 'must not be empty; leave it out to use index.ts or index.js')
    const stateless = this.optionalBoolean(raw, 'stateless', 'stateless')
    const posthogVersion = this.optionalString(raw, 'posthogVersion', 'posthogVersion')
    const config = this.config(own(raw, 'config'))
    const publicJobs = this.publicJobs(own(raw, 'publicJobs'))

    const manifest: PluginManifest = { name: typeof name === 'string' ? name : '', config }
    if (url !== undefined) manifest.url = url
    if (description !== undefined) manifest.description = description
    if (main !== undefined) manifest.main = main
    if (publicJobs !== undefined) manifest.publicJobs = publicJobs
    if (stateless !== undefined) manifest.stateless = stateless
    if (posthogVersion !== undefined) manifest.posthogVersion = posthogVersion
    return manifest
  }

  config(value: unknown): ConfigField[] {
    if (value === undefined || value === null) return []
    let entries: { path: string; key: string | undefined; raw: unknown }[]
    if (Array.isArray(value)) {
      entries = value.map((raw, index) => ({ path: `config[${index}]`, key: undefined, raw }))
    } else if (isObject(value)) {
      // The legacy map form carried `order` to sort by; entries without one keep their place after.
      entries = Object.entries(value)
        .map(([key, raw]) => ({ path: `config.${key}`, key, raw }))
        .map((entry, index) => ({ entry, index, order: orderOf(entry.raw) }))
        .sort((a, b) => a.order - b.order || a.index - b.index)
        .map(({ entry }) => entry)
    } else {
      this.problem(
        'config',
        `must be an array of fields (or an object of fields by key), not ${describeType(value)}`,
      )
      return []
    }

    const fields: ConfigField[] = []
    const firstPathOfKey = new Map<string, string>()
    for (const entry of entries) {
      const field = this.configField(entry.raw, entry.path, entry.key)
      if (field === undefined) continue
      if (field.key !== undefined) {
        const earlier = firstPathOfKey.get(field.key)
        if (earlier !== undefined) {
          this.problem(`${entry.path}.key`, `duplicate key '${field.key}' (already used by ${earlier})`)
        } else {
          firstPathOfKey.set(field.key, entry.path)
        }
      }
      fields.push(field)
    }
    return fields
  }

  configField(raw: unknown, path: string, mapKey: string | undefined): ConfigField | undefined {
    if (!isObject(raw)) {
      this.problem(path, `must be an object, not ${describeType(raw)}`)
      return undefined
    }
    let key = mapKey
    if (key === undefined) {
      const rawKey = own(raw, 'key')
      if (typeof rawKey === 'string' && rawKey !== '') key = rawKey
      else if (rawKey !== undefined) this.problem(`${path}.key`, 'must be a non-empty string')
      else if (typeof own(raw, 'markdown') !== 'string') {
        this.problem(
          `${path}.key`,
          'is required (only a display-text entry, with just `markdown`, may omit it)',
        )
      }
    }

    const rawType = own(raw, 'type')
    let type: ConfigFieldType = 'string'
    if (rawType !== undefined) {
      if (typeof rawType === 'string' && (CONFIG_FIELD_TYPES as readonly string[]).includes(rawType)) {
        type = rawType as ConfigFieldType
      } else {
        this.problem(`${path}.type`, `must be one of ${CONFIG_FIELD_TYPES.join(', ')}`)
      }
    }

    const name = this.optionalString(raw, 'name', `${path}.name`)
    const hint = this.optionalString(raw, 'hint', `${path}.hint`)
    const markdown = this.optionalString(raw, 'markdown', `${path}.markdown`)
    const required = this.optionalBoolean(raw, 'required', `${path}.required`)
    const secret = this.optionalBoolean(raw, 'secret', `${path}.secret`)
    const choices = this.choices(raw, type, `${path}.choices`)
    const requiredIf = this.conditions(own(raw, 'required_if'), `${path}.required_if`)
    const visibleIf = this.conditions(own(raw, 'visible_if'), `${path}.visible_if`)
    const defaultValue = this.defaultValue(own(raw, 'default'), type, choices, `${path}.default`)

    const field: ConfigField = { type }
    if (key !== undefined) field.key = key
    if (name !== undefined) field.name = name
    if (defaultValue !== undefined) field.default = defaultValue
    if (hint !== undefined) field.hint = hint
    if (markdown !== undefined) field.markdown = markdown
    if (required !== undefined) field.required = required
    if (secret !== undefined) field.secret = secret
    if (choices !== undefined) field.choices = choices
    if (requiredIf !== undefined) field.required_if = requiredIf
    if (visibleIf !== undefined) field.visible_if = visibleIf
    return field
  }

  choices(raw: JsonObject, type: ConfigFieldType, path: string): string[] | undefined {
    const value = own(raw, 'choices')
    if (type !== 'choice') return undefined
    if (!Array.isArray(value) || value.length === 0 || !value.every((choice) => typeof choice === 'string')) {
      this.problem(path, 'a choice field needs `choices`: a non-empty array of strings')
      return undefined
    }
    return [...value]
  }

  conditions(value: unknown, path: string): ConfigCondition[] | undefined {
    if (value === undefined || value === null) return undefined
    if (!Array.isArray(value)) {
      this.problem(path, 'must be an array of [otherKey, value] pairs')
      return undefined
    }
    const conditions: ConfigCondition[] = []
    value.forEach((pair, index) => {
      const valid =
        Array.isArray(pair) &&
        (pair.length === 1 || pair.length === 2) &&
        typeof pair[0] === 'string' &&
        pair[0] !== '' &&
        (pair.length === 1 || typeof pair[1] === 'string')
      if (!valid) {
        this.problem(
          `${path}[${index}]`,
          'must be [otherKey, value] or [otherKey] (keys and values are strings)',
        )
        return
      }
      conditions.push(pair.length === 2 ? [pair[0], pair[1]] : [pair[0]])
    })
    // An empty list has nothing to check; it is dropped rather than read as "always".
    return conditions.length > 0 ? conditions : undefined
  }

  defaultValue(
    value: unknown,
    type: ConfigFieldType,
    choices: readonly string[] | undefined,
    path: string,
  ): unknown {
    if (value === undefined || value === null || type === 'attachment') return undefined
    if (type === 'json') {
      if (typeof value === 'string') {
        try {
          JSON.parse(value)
        } catch (error) {
          this.problem(path, `is not valid JSON: ${(error as Error).message}`)
          return undefined
        }
      }
      return value
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      this.problem(path, `must be a string, not ${describeType(value)}`)
      return undefined
    }
    // Numbers and booleans are written unquoted in some plugin.json files; the value a text field
    // would hold is their string form.
    const text = String(value)
    if (type === 'choice' && choices !== undefined && !choices.includes(text)) {
      this.problem(path, `must be one of the field's choices (${choices.join(', ')})`)
      return undefined
    }
    return text
  }

  publicJobs(value: unknown): Record<string, PublicJobSpec> | undefined {
    if (value === undefined || value === null) return undefined
    if (!isObject(value)) {
      this.problem('publicJobs', `must be an object of jobs by name, not ${describeType(value)}`)
      return undefined
    }
    const jobs: [string, PublicJobSpec][] = []
    for (const [jobName, rawJob] of Object.entries(value)) {
      const path = `publicJobs.${jobName}`
      if (!isObject(rawJob)) {
        this.problem(path, `must be an object (with an optional \`payload\`), not ${describeType(rawJob)}`)
        continue
      }
      const rawPayload = own(rawJob, 'payload')
      if (rawPayload === undefined || rawPayload === null) {
        jobs.push([jobName, {}])
        continue
      }
      if (!isObject(rawPayload)) {
        this.problem(
          `${path}.payload`,
          `must be an object of fields by name, not ${describeType(rawPayload)}`,
        )
        continue
      }
      const payload: [string, JobPayloadField][] = []
      for (const [fieldName, rawField] of Object.entries(rawPayload)) {
        const field = this.jobPayloadField(rawField, `${path}.payload.${fieldName}`)
        if (field !== undefined) payload.push([fieldName, field])
      }
      jobs.push([jobName, { payload: Object.fromEntries(payload) }])
    }
    return Object.fromEntries(jobs)
  }

  jobPayloadField(raw: unknown, path: string): JobPayloadField | undefined {
    if (!isObject(raw)) {
      this.problem(path, `must be an object with a \`type\`, not ${describeType(raw)}`)
      return undefined
    }
    const type = own(raw, 'type')
    const title = this.optionalString(raw, 'title', `${path}.title`)
    const required = this.optionalBoolean(raw, 'required', `${path}.required`)
    if (typeof type !== 'string' || !(JOB_PAYLOAD_TYPES as readonly string[]).includes(type)) {
      this.problem(`${path}.type`, `must be one of ${JOB_PAYLOAD_TYPES.join(', ')}`)
      return undefined
    }
    const field: JobPayloadField = { type: type as JobPayloadFieldType }
    if (title !== undefined) field.title = title
    if (required !== undefined) field.required = required
    const defaultValue = own(raw, 'default')
    if (defaultValue !== undefined) field.default = defaultValue
    return field
  }
}

function orderOf(raw: unknown): number {
  const order = isObject(raw) ? own(raw, 'order') : undefined
  return typeof order === 'number' && Number.isFinite(order) ? order : Number.POSITIVE_INFINITY
}

/**
 * Validates and normalises a plugin's `plugin.json`.
 *
 * Accepts the file's text or an already-parsed value. Unknown top-level and field properties are
 * ignored (real plugin.json files carry extras); `order` is accepted and dropped. A legacy config
 * object map (`{ "apiKey": { ... } }`) becomes the array form, keys taken from the map.
 *
 * @param input plugin.json text, or the value it parsed to.
 * @returns the manifest with `config` in array form and every field's `type` filled in.
 * @throws {ValidationError} (component `manifest`) listing every problem found, each with a path
 *   such as `name`, `config[2].type`, `config.apiKey.choices` or `publicJobs.myJob.payload.day.type`.
 * @example
 * const manifest = parsePluginManifest('{"name":"Hello","config":[{"key":"greeting","default":"hi"}]}')
 * manifest.config[0] // { key: 'greeting', type: 'string', default: 'hi' }
 */
export function parsePluginManifest(input: unknown): PluginManifest {
  let raw = input
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input.replace(/^\uFEFF/, ''))
    } catch (error) {
      throw new ValidationError('manifest', 'plugin.json is invalid', [
        { field: 'plugin.json', message: `is not valid JSON: ${(error as Error).message}` },
      ])
    }
  }
  const reader = new ManifestReader()
  const manifest = reader.manifest(raw)
  if (manifest === undefined || reader.problems.length > 0) {
    throw new ValidationError('manifest', 'plugin.json is invalid', reader.problems)
  }
  return manifest
}
