import { SluiceError } from '@sluice/core'

/** Postgres truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

/**
 * Checks a schema or table name the caller chose. Only lowercase letters, digits and `_` are
 * accepted, so the name means the same thing quoted or unquoted in hand-written SQL.
 */
export function validateIdentifier(what: string, name: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER_BYTES) {
    throw new SluiceError(
      `${what} ${JSON.stringify(name)} is not a usable name — use 1 to ${MAX_IDENTIFIER_BYTES} ` +
        'lowercase letters, digits and underscores, starting with a letter or underscore',
      { retryable: false, code: 'postgres.invalid_option', component: 'postgres' },
    )
  }
  return name
}

/** Quotes a validated identifier for SQL text. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** `"schema"."name"`, both parts validated. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`
}
