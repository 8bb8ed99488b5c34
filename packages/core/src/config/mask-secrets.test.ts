import { describe, expect, it } from 'vitest'
import type { PluginConfigSchema } from '../manifest/types.js'
import { maskSecrets, mergeWithSecrets, SECRET_MASK, secretKeys } from './mask-secrets.js'
import { validatePluginConfig } from './validate-config.js'

const schema: PluginConfigSchema = [
  { type: 'string', markdown: 'Intro' },
  { key: 'host', type: 'string' },
  { key: 'apiKey', type: 'string', secret: true, required: true },
  { key: 'credentials', type: 'json', secret: true },
  { key: 'public', type: 'string', secret: false },
]

describe('SECRET_MASK', () => {
  it('is the fixed mask string', () => {
    expect(SECRET_MASK).toBe('**************')
  })
})

describe('secretKeys', () => {
  it('lists the keys of secret fields in schema order', () => {
    expect(secretKeys(schema)).toEqual(['apiKey', 'credentials'])
    expect(secretKeys([])).toEqual([])
  })
})

describe('maskSecrets', () => {
  it('replaces every set secret value, whatever its type, and leaves the rest', () => {
    const config = { host: 'h', apiKey: 'sk_123', credentials: { user: 'u' }, public: 'p' }
    expect(maskSecrets(schema, config)).toEqual({
      host: 'h',
      apiKey: SECRET_MASK,
      credentials: SECRET_MASK,
      public: 'p',
    })
  })

  it('leaves unset secrets as they are', () => {
    expect(maskSecrets(schema, { apiKey: '', credentials: null })).toEqual({ apiKey: '', credentials: null })
    expect(maskSecrets(schema, { host: 'h' })).toEqual({ host: 'h' })
  })

  it('does not change its input', () => {
    const config = { apiKey: 'sk_123' }
    maskSecrets(schema, config)
    expect(config).toEqual({ apiKey: 'sk_123' })
  })
})

describe('mergeWithSecrets', () => {
  const previous = { host: 'old', apiKey: 'sk_old', credentials: { user: 'u' } }

  it('keeps the stored secret when the client sends the mask back', () => {
    expect(
      mergeWithSecrets(schema, previous, { host: 'new', apiKey: SECRET_MASK, credentials: SECRET_MASK }),
    ).toEqual({
      host: 'new',
      apiKey: 'sk_old',
      credentials: { user: 'u' },
    })
  })

  it('keeps the stored secret when the client omits it', () => {
    expect(mergeWithSecrets(schema, previous, { host: 'new' })).toEqual({
      host: 'new',
      apiKey: 'sk_old',
      credentials: { user: 'u' },
    })
  })

  it('takes a new secret value', () => {
    expect(mergeWithSecrets(schema, previous, { apiKey: 'sk_new' })).toEqual({
      apiKey: 'sk_new',
      credentials: { user: 'u' },
    })
  })

  it('clears a secret sent as empty string or null', () => {
    expect(mergeWithSecrets(schema, previous, { apiKey: '', credentials: null })).toEqual({
      apiKey: '',
      credentials: null,
    })
  })

  it('does not carry over non-secret fields the client omitted', () => {
    expect(mergeWithSecrets(schema, previous, { apiKey: SECRET_MASK })).toEqual({
      apiKey: 'sk_old',
      credentials: { user: 'u' },
    })
  })

  it('drops a mask with nothing stored behind it, so validation sees the secret as missing', () => {
    const merged = mergeWithSecrets(schema, undefined, { host: 'h', apiKey: SECRET_MASK })
    expect(merged).toEqual({ host: 'h' })
    expect(validatePluginConfig(schema, merged)).toEqual({
      ok: false,
      problems: [{ field: 'apiKey', message: 'is required' }],
    })
  })

  it('round-trips: masking a stored config and sending it back changes nothing', () => {
    const stored = { host: 'h', apiKey: 'sk_old', public: 'p' }
    expect(mergeWithSecrets(schema, stored, maskSecrets(schema, stored))).toEqual(stored)
  })
})
