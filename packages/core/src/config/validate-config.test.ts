import { describe, expect, it } from 'vitest'
import { ValidationError } from '../errors.js'
import type { PluginConfigSchema } from '../manifest/types.js'
import { assertValidPluginConfig, validatePluginConfig } from './validate-config.js'

describe('validatePluginConfig defaults and empty values', () => {
  const schema: PluginConfigSchema = [
    { type: 'string', markdown: 'Display text only' },
    { key: 'greeting', type: 'string', default: 'hello' },
    { key: 'note', type: 'string' },
  ]

  it('applies defaults for missing, empty-string and null values', () => {
    expect(validatePluginConfig(schema, {})).toEqual({ ok: true, config: { greeting: 'hello' } })
    expect(validatePluginConfig(schema, { greeting: '' })).toEqual({
      ok: true,
      config: { greeting: 'hello' },
    })
    expect(validatePluginConfig(schema, { greeting: null })).toEqual({
      ok: true,
      config: { greeting: 'hello' },
    })
    expect(validatePluginConfig(schema, { greeting: undefined })).toEqual({
      ok: true,
      config: { greeting: 'hello' },
    })
  })

  it('keeps a submitted value over the default', () => {
    expect(validatePluginConfig(schema, { greeting: 'hi', note: 'n' })).toEqual({
      ok: true,
      config: { greeting: 'hi', note: 'n' },
    })
  })

  it('leaves out empty optional fields that have no default', () => {
    expect(validatePluginConfig(schema, { note: '' })).toEqual({ ok: true, config: { greeting: 'hello' } })
  })

  it('keeps whitespace as a value (only empty, null and undefined count as unset)', () => {
    expect(validatePluginConfig(schema, { greeting: ' ' })).toEqual({ ok: true, config: { greeting: ' ' } })
  })

  it('does not read inherited properties such as constructor or toString', () => {
    const inherited: PluginConfigSchema = [{ key: 'constructor', type: 'string', required: true }]
    expect(validatePluginConfig(inherited, {})).toEqual({
      ok: false,
      problems: [{ field: 'constructor', message: 'is required' }],
    })
  })

  it('rejects input that is not an object', () => {
    expect(validatePluginConfig(schema, [] as unknown as Record<string, unknown>)).toEqual({
      ok: false,
      problems: [{ field: 'config', message: 'must be an object of values by key' }],
    })
  })
})

describe('validatePluginConfig required fields', () => {
  it('requires required fields, counting empty values as missing', () => {
    const schema: PluginConfigSchema = [{ key: 'apiKey', type: 'string', required: true }]
    const problems = [{ field: 'apiKey', message: 'is required' }]
    expect(validatePluginConfig(schema, {})).toEqual({ ok: false, problems })
    expect(validatePluginConfig(schema, { apiKey: '' })).toEqual({ ok: false, problems })
    expect(validatePluginConfig(schema, { apiKey: null })).toEqual({ ok: false, problems })
    expect(validatePluginConfig(schema, { apiKey: 'k' })).toEqual({ ok: true, config: { apiKey: 'k' } })
  })

  it('satisfies a required field with its default', () => {
    const schema: PluginConfigSchema = [{ key: 'host', type: 'string', required: true, default: 'localhost' }]
    expect(validatePluginConfig(schema, {})).toEqual({ ok: true, config: { host: 'localhost' } })
  })
})

describe('validatePluginConfig required_if and visible_if', () => {
  const schema: PluginConfigSchema = [
    { key: 'mode', type: 'choice', choices: ['none', 'basic', 'token'], default: 'none' },
    { key: 'region', type: 'string' },
    { key: 'username', type: 'string', required_if: [['mode', 'basic']] },
    { key: 'token', type: 'string', required_if: [['mode', 'token']], visible_if: [['mode', 'token']] },
    {
      key: 'euHost',
      type: 'string',
      required_if: [
        ['mode', 'basic'],
        ['region', 'eu'],
      ],
    },
    { key: 'regionNote', type: 'string', required_if: [['region']] },
    { key: 'hiddenRequired', type: 'string', required: true, visible_if: [['mode', 'token']] },
  ]

  it('requires a field when its condition holds', () => {
    const result = validatePluginConfig(schema, { mode: 'basic' })
    expect(result).toEqual({ ok: false, problems: [{ field: 'username', message: 'is required' }] })
  })

  it('does not require it when the condition does not hold', () => {
    expect(validatePluginConfig(schema, { mode: 'none' })).toEqual({ ok: true, config: { mode: 'none' } })
  })

  it('evaluates conditions against defaults when the other field is empty', () => {
    const withDefaultBasic: PluginConfigSchema = [
      { key: 'mode', type: 'string', default: 'basic' },
      { key: 'username', type: 'string', required_if: [['mode', 'basic']] },
    ]
    expect(validatePluginConfig(withDefaultBasic, {})).toEqual({
      ok: false,
      problems: [{ field: 'username', message: 'is required' }],
    })
  })

  it('needs ALL conditions of required_if to hold, as PostHog does', () => {
    const onlyOne = validatePluginConfig(schema, {
      mode: 'basic',
      username: 'u',
      region: 'us',
      regionNote: 'x',
    })
    expect(onlyOne).toEqual({
      ok: true,
      config: { mode: 'basic', region: 'us', username: 'u', regionNote: 'x' },
    })
    const both = validatePluginConfig(schema, { mode: 'basic', username: 'u', region: 'eu', regionNote: 'x' })
    expect(both).toEqual({ ok: false, problems: [{ field: 'euHost', message: 'is required' }] })
  })

  it('reads [otherKey] alone as "the other field has a value"', () => {
    expect(validatePluginConfig(schema, { region: 'us' })).toEqual({
      ok: false,
      problems: [{ field: 'regionNote', message: 'is required' }],
    })
  })

  it('does not require a field that visible_if hides, even when required', () => {
    expect(validatePluginConfig(schema, { mode: 'basic', username: 'u' })).toEqual({
      ok: true,
      config: { mode: 'basic', username: 'u' },
    })
  })

  it('requires a visible field whose required_if holds', () => {
    expect(validatePluginConfig(schema, { mode: 'token' })).toEqual({
      ok: false,
      problems: [
        { field: 'token', message: 'is required' },
        { field: 'hiddenRequired', message: 'is required' },
      ],
    })
  })

  it('can depend on whether an attachment is uploaded', () => {
    const attachmentSchema: PluginConfigSchema = [
      { key: 'keyFile', type: 'attachment' },
      { key: 'passphrase', type: 'string', required_if: [['keyFile']] },
    ]
    expect(validatePluginConfig(attachmentSchema, {}, { attachmentKeys: ['keyFile'] })).toEqual({
      ok: false,
      problems: [{ field: 'passphrase', message: 'is required' }],
    })
    expect(validatePluginConfig(attachmentSchema, {})).toEqual({ ok: true, config: {} })
  })
})

describe('validatePluginConfig field types', () => {
  it('string values must be strings', () => {
    const schema: PluginConfigSchema = [
      { key: 'a', type: 'string' },
      { key: 'b', type: 'string' },
      { key: 'c', type: 'string' },
    ]
    expect(validatePluginConfig(schema, { a: 5, b: true, c: { x: 1 } })).toEqual({
      ok: false,
      problems: [
        { field: 'a', message: 'must be a string, not a number' },
        { field: 'b', message: 'must be a string, not a boolean' },
        { field: 'c', message: 'must be a string, not an object' },
      ],
    })
  })

  it('choice values must be among choices', () => {
    const schema: PluginConfigSchema = [{ key: 'region', type: 'choice', choices: ['us', 'eu'] }]
    expect(validatePluginConfig(schema, { region: 'eu' })).toEqual({ ok: true, config: { region: 'eu' } })
    const problems = [{ field: 'region', message: 'must be one of: us, eu' }]
    expect(validatePluginConfig(schema, { region: 'asia' })).toEqual({ ok: false, problems })
    expect(validatePluginConfig(schema, { region: 1 })).toEqual({ ok: false, problems })
  })

  it('json strings are parsed; objects and arrays pass as they are', () => {
    const schema: PluginConfigSchema = [
      { key: 'a', type: 'json' },
      { key: 'b', type: 'json' },
      { key: 'c', type: 'json' },
      { key: 'd', type: 'json', default: '{"fallback":true}' },
    ]
    const result = validatePluginConfig(schema, { a: '{"x":[1,2]}', b: { y: 1 }, c: [1, 'two'] })
    expect(result).toEqual({
      ok: true,
      config: { a: { x: [1, 2] }, b: { y: 1 }, c: [1, 'two'], d: { fallback: true } },
    })
  })

  it('json strings that do not parse are a problem carrying the parse message', () => {
    const schema: PluginConfigSchema = [{ key: 'mapping', type: 'json' }]
    const result = validatePluginConfig(schema, { mapping: '{oops' })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems).toHaveLength(1)
    expect(result.problems[0]?.field).toBe('mapping')
    expect(result.problems[0]?.message).toMatch(/^is not valid JSON: .+/)
  })

  it('attachments are present when their key is in attachmentKeys, never in the config', () => {
    const schema: PluginConfigSchema = [
      { key: 'certificate', type: 'attachment', required: true },
      { key: 'logo', type: 'attachment' },
    ]
    expect(validatePluginConfig(schema, {}, { attachmentKeys: ['certificate'] })).toEqual({
      ok: true,
      config: {},
    })
    expect(validatePluginConfig(schema, {})).toEqual({
      ok: false,
      problems: [{ field: 'certificate', message: 'is required: upload a file' }],
    })
    expect(validatePluginConfig(schema, { logo: 'data' }, { attachmentKeys: ['certificate'] })).toEqual({
      ok: false,
      problems: [{ field: 'logo', message: 'attachments are uploaded as files, not set in the config' }],
    })
  })
})

describe('validatePluginConfig undeclared and reserved keys', () => {
  const schema: PluginConfigSchema = [{ key: 'a', type: 'string' }]

  it('reports keys the schema does not declare', () => {
    expect(validatePluginConfig(schema, { a: 'x', stale: 'y', other: '' })).toEqual({
      ok: false,
      problems: [
        { field: 'stale', message: "not a field of this plugin's config" },
        { field: 'other', message: "not a field of this plugin's config" },
      ],
    })
  })

  it('always allows the export-buffer keys, normalising numeric strings to numbers', () => {
    const result = validatePluginConfig(schema, {
      exportEventsBufferBytes: '1048576',
      exportEventsBufferSeconds: 30,
      exportEventsToIgnore: '$pageview,$autocapture',
    })
    expect(result).toEqual({
      ok: true,
      config: {
        exportEventsBufferBytes: 1048576,
        exportEventsBufferSeconds: 30,
        exportEventsToIgnore: '$pageview,$autocapture',
      },
    })
  })

  it('leaves empty export-buffer keys out', () => {
    expect(validatePluginConfig(schema, { exportEventsBufferBytes: '', exportEventsToIgnore: null })).toEqual(
      {
        ok: true,
        config: {},
      },
    )
  })

  it('requires positive whole numbers for buffer bytes and seconds, and a string to ignore', () => {
    const message = 'must be a positive whole number'
    for (const bad of [0, -5, 1.5, '0', '-1', '1e3', 'ten', true, Number.NaN]) {
      expect(validatePluginConfig(schema, { exportEventsBufferSeconds: bad })).toEqual({
        ok: false,
        problems: [{ field: 'exportEventsBufferSeconds', message }],
      })
    }
    expect(validatePluginConfig(schema, { exportEventsToIgnore: ['a'] })).toEqual({
      ok: false,
      problems: [
        {
          field: 'exportEventsToIgnore',
          message: 'must be a comma-separated string of event names, not an array',
        },
      ],
    })
  })

  it('lets a schema that declares a reserved key validate it as its own field', () => {
    const declaring: PluginConfigSchema = [
      { key: 'exportEventsToIgnore', type: 'string', default: '$snapshot' },
    ]
    expect(validatePluginConfig(declaring, {})).toEqual({
      ok: true,
      config: { exportEventsToIgnore: '$snapshot' },
    })
  })
})

describe('validatePluginConfig reporting', () => {
  const schema: PluginConfigSchema = [
    { key: 'apiKey', type: 'string', required: true },
    { key: 'region', type: 'choice', choices: ['us', 'eu'] },
    { key: 'mapping', type: 'json' },
    { key: 'file', type: 'attachment', required: true },
    { key: 'count', type: 'string' },
  ]

  it('returns every problem at once, in schema order, then undeclared keys', () => {
    const result = validatePluginConfig(schema, {
      zzz: 1,
      count: 3,
      mapping: 'nope',
      region: 'mars',
      exportEventsBufferBytes: 'lots',
    })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems.map((problem) => problem.field)).toEqual([
      'apiKey',
      'region',
      'mapping',
      'file',
      'count',
      'zzz',
      'exportEventsBufferBytes',
    ])
  })

  it('never puts a secret value in a problem message', () => {
    const secret = 'sk_live_TOP_SECRET_1234'
    const secretSchema: PluginConfigSchema = [
      { key: 'token', type: 'string', secret: true },
      { key: 'mode', type: 'choice', choices: ['a', 'b'], secret: true },
      { key: 'credentials', type: 'json', secret: true },
      { key: 'file', type: 'attachment', secret: true },
    ]
    const input = {
      token: { value: secret },
      mode: secret,
      credentials: `{"key": ${secret}}`,
      file: secret,
      [secret]: secret,
    }
    const result = validatePluginConfig(secretSchema, input)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems.map((problem) => problem.field)).toEqual([
      'token',
      'mode',
      'credentials',
      'file',
      secret,
    ])
    expect(result.problems.find((problem) => problem.field === 'credentials')?.message).toBe(
      'is not valid JSON',
    )
    for (const problem of result.problems) expect(problem.message).not.toContain('TOP_SECRET')

    let thrown: unknown
    try {
      assertValidPluginConfig(secretSchema, { ...input, [secret]: undefined })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ValidationError)
    expect((thrown as Error).message).not.toContain('TOP_SECRET')
  })
})

describe('assertValidPluginConfig', () => {
  const schema: PluginConfigSchema = [
    { key: 'apiKey', type: 'string', required: true },
    { key: 'mapping', type: 'json', default: '[1]' },
  ]

  it('returns the config to store', () => {
    expect(assertValidPluginConfig(schema, { apiKey: 'k' })).toEqual({ apiKey: 'k', mapping: [1] })
  })

  it('throws a config ValidationError with every problem', () => {
    let thrown: unknown
    try {
      assertValidPluginConfig(schema, { mapping: '{', extra: 1 })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ValidationError)
    const error = thrown as ValidationError
    expect(error.component).toBe('config')
    expect(error.code).toBe('config.invalid')
    expect(error.problems.map((problem) => problem.field)).toEqual(['apiKey', 'mapping', 'extra'])
    expect(error.message).toMatch(
      /^\[sluice:config\] plugin config is invalid: apiKey: is required; mapping: /,
    )
  })
})
