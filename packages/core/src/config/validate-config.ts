import { type Problem, ValidationError } from '../errors.js'
import type { ConfigCondition, ConfigField, PluginConfigSchema } from '../manifest/types.js'
import { isEmptyConfigValue, ownValue } from './values.js'

/**
 * Config keys every plugin may set without declaring them: they tune the `exportEvents` buffer
 * (SPEC §2.1). Bytes and seconds are positive whole numbers; `exportEventsToIgnore` is a
 * comma-separated list of event names.
 */
export const RESERVED_CONFIG_KEYS = [
  'exportEventsBufferBytes',
  'exportEventsBufferSeconds',
  'exportEventsToIgnore',
] as const

/** Options of {@link validatePluginConfig}. */
export interface ValidatePluginConfigOptions {
  /**
   * Keys of the attachments stored for this config. Attachments never live in the config
   * itself; this is how a required attachment is known to be present.
   * @default []
   */
  attachmentKeys?: readonly string[]
}

/** The outcome of {@link validatePluginConfig}: the config to store, or every problem found. */
export type PluginConfigValidation =
  | {
      /** The config is valid. */
      ok: true
      /** The config to store and hand to the plugin: defaults applied, `json` fields parsed. */
      config: Record<string, unknown>
    }
  | {
      /** The config is invalid. */
      ok: false
      /** Every problem, keyed by config key, in schema order (then undeclared keys). */
      problems: Problem[]
    }

type KeyedField = ConfigField & { key: string }

type Checked = { value: unknown } | { problem: string }

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return type === 'object' ? 'an object' : `a ${type}`
}

// Messages never quote the value: the field may be secret, and a JSON parse error message would
// echo the text it choked on.
function checkValue(field: KeyedField, value: unknown): Checked {
  switch (field.type) {
    case 'string':
      return typeof value === 'string'
        ? { value }
        : { problem: `must be a string, not ${describeType(value)}` }
    case 'choice': {
      const choices = field.choices ?? []
      return typeof value === 'string' && choices.includes(value)
        ? { value }
        : { problem: `must be one of: ${choices.join(', ')}` }
    }
    case 'json':
      if (typeof value !== 'string') return { value }
      try {
        return { value: JSON.parse(value) }
      } catch (error) {
        return {
          problem:
            field.secret === true ? 'is not valid JSON' : `is not valid JSON: ${(error as Error).message}`,
        }
      }
    case 'attachment':
      return { problem: 'attachments are uploaded as files, not set in the config' }
  }
}

function checkReserved(key: string, value: unknown): Checked {
  if (key === 'exportEventsToIgnore') {
    return typeof value === 'string'
      ? { value }
      : { problem: `must be a comma-separated string of event names, not ${describeType(value)}` }
  }
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  return typeof number === 'number' && Number.isSafeInteger(number) && number > 0
    ? { value: number }
    : { problem: 'must be a positive whole number' }
}

/**
 * Validates a plugin config against its schema, as the server does when a config is saved.
 *
 * - Empty values (`undefined`, `null`, `''`) take the field's default; with no default they are
 *   left out of the result.
 * - `required` fields, and fields whose `required_if` conditions all hold, must be set — unless
 *   `visible_if` hides them.
 * - `string` values must be strings; `choice` values one of `choices`; `json` strings must parse
 *   (the result holds the parsed value; objects, arrays and other JSON values pass as they are).
 * - `attachment` fields are never set in the config; a required one must be in `attachmentKeys`.
 * - Keys the schema does not declare are problems, except {@link RESERVED_CONFIG_KEYS}.
 *
 * Problem messages never contain a submitted value, so secrets cannot leak through them.
 *
 * @param schema the plugin's config schema (`manifest.config`).
 * @param input the config as submitted.
 * @example
 * validatePluginConfig([{ key: 'mode', type: 'choice', choices: ['a', 'b'], default: 'a' }], {})
 * // { ok: true, config: { mode: 'a' } }
 */
export function validatePluginConfig(
  schema: PluginConfigSchema,
  input: Readonly<Record<string, unknown>>,
  options: ValidatePluginConfigOptions = {},
): PluginConfigValidation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, problems: [{ field: 'config', message: 'must be an object of values by key' }] }
  }
  const attachmentKeys = new Set(options.attachmentKeys ?? [])
  const fields = schema.filter((field): field is KeyedField => field.key !== undefined)
  const fieldsByKey = new Map(fields.map((field) => [field.key, field]))

  // What a condition sees: the submitted value, else the default (as an operator's form shows it).
  const effectiveValue = (key: string): unknown => {
    const field = fieldsByKey.get(key)
    if (field?.type === 'attachment') return attachmentKeys.has(key) ? key : undefined
    const value = ownValue(input, key)
    return isEmptyConfigValue(value) ? field?.default : value
  }
  const holds = ([otherKey, expected]: ConfigCondition): boolean => {
    const actual = effectiveValue(otherKey)
    if (expected === undefined) return !isEmptyConfigValue(actual)
    return (isEmptyConfigValue(actual) ? '' : actual) === expected
  }

  const problems: Problem[] = []
  const config: [string, unknown][] = []
  for (const field of fields) {
    const { key } = field
    const visible = field.visible_if === undefined || field.visible_if.every(holds)
    const required = visible && (field.required === true || field.required_if?.every(holds) === true)
    const submitted = ownValue(input, key)

    if (field.type === 'attachment') {
      if (!isEmptyConfigValue(submitted)) {
        problems.push({ field: key, message: 'attachments are uploaded as files, not set in the config' })
      } else if (required && !attachmentKeys.has(key)) {
        problems.push({ field: key, message: 'is required: upload a file' })
      }
      continue
    }

    const value = isEmptyConfigValue(submitted) ? field.default : submitted
    if (isEmptyConfigValue(value)) {
      if (required) problems.push({ field: key, message: 'is required' })
      continue
    }
    const checked = checkValue(field, value)
    if ('problem' in checked) problems.push({ field: key, message: checked.problem })
    else config.push([key, checked.value])
  }

  for (const key of Object.keys(input)) {
    const value = input[key]
    if (fieldsByKey.has(key) || value === undefined) continue
    if (!(RESERVED_CONFIG_KEYS as readonly string[]).includes(key)) {
      problems.push({ field: key, message: "not a field of this plugin's config" })
      continue
    }
    if (isEmptyConfigValue(value)) continue
    const checked = checkReserved(key, value)
    if ('problem' in checked) problems.push({ field: key, message: checked.problem })
    else config.push([key, checked.value])
  }

  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: Object.fromEntries(config) }
}

/**
 * {@link validatePluginConfig}, throwing instead of returning problems.
 *
 * @returns the config to store: defaults applied, `json` fields parsed.
 * @throws {ValidationError} (component `config`) listing every problem, keyed by config key.
 */
export function assertValidPluginConfig(
  schema: PluginConfigSchema,
  input: Readonly<Record<string, unknown>>,
  options: ValidatePluginConfigOptions = {},
): Record<string, unknown> {
  const result = validatePluginConfig(schema, input, options)
  if (!result.ok) throw new ValidationError('config', 'plugin config is invalid', result.problems)
  return result.config
}
