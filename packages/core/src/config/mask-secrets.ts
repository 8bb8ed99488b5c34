import type { PluginConfigSchema } from '../manifest/types.js'
import { isEmptyConfigValue, ownValue } from './values.js'

/** What every set secret value is replaced with in responses. Sent back unchanged, it means "keep". */
export const SECRET_MASK = '**************'

/**
 * The keys of a schema's `secret: true` fields, in schema order.
 * @example secretKeys([{ key: 'apiKey', type: 'string', secret: true }]) // ['apiKey']
 */
export function secretKeys(schema: PluginConfigSchema): string[] {
  return schema.flatMap((field) => (field.secret === true && field.key !== undefined ? [field.key] : []))
}

/**
 * A copy of `config` fit to show: every set secret value replaced with {@link SECRET_MASK}.
 * Unset secrets (`undefined`, `null`, `''`) are left as they are, so the client can tell a secret
 * still needs filling in.
 */
export function maskSecrets(
  schema: PluginConfigSchema,
  config: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const secrets = new Set(secretKeys(schema))
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      secrets.has(key) && !isEmptyConfigValue(value) ? SECRET_MASK : value,
    ]),
  )
}

/**
 * The config to validate and store for an update, keeping secrets write-only: a secret that
 * `next` omits or sends as {@link SECRET_MASK} keeps its `previous` value. A secret sent as
 * `''` or `null` is cleared.
 *
 * @param previous the stored config, or `undefined` when creating one (a mask then stays unset).
 * @param next the config the client sent.
 */
export function mergeWithSecrets(
  schema: PluginConfigSchema,
  previous: Readonly<Record<string, unknown>> | undefined,
  next: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const secrets = new Set(secretKeys(schema))
  const keepsPrevious = (key: string): boolean => {
    const value = ownValue(next, key)
    return value === undefined || value === SECRET_MASK
  }
  const merged = Object.entries(next).filter(([key]) => !(secrets.has(key) && keepsPrevious(key)))
  for (const key of secrets) {
    if (!keepsPrevious(key) || previous === undefined) continue
    const stored = ownValue(previous, key)
    if (stored !== undefined) merged.push([key, stored])
  }
  return Object.fromEntries(merged)
}
