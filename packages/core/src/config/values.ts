/**
 * Whether a config value counts as "not set": `undefined`, `null` or the empty string. Such values
 * take the field's default and do not satisfy `required`.
 */
export function isEmptyConfigValue(value: unknown): boolean {
  return value === undefined || value === null || value === ''
}

/** Reads an own property only, so keys like `constructor` never reach `Object.prototype`. */
export function ownValue(object: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}
