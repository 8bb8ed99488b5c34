import { describe, expect, it } from 'vitest'
import { type Problem, ValidationError } from '../errors.js'
import { parsePluginManifest } from './parse-manifest.js'

function problemsOf(run: () => unknown): Problem[] {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    const validation = error as ValidationError
    expect(validation.component).toBe('manifest')
    expect(validation.code).toBe('manifest.invalid')
    expect(validation.retryable).toBe(false)
    return [...validation.problems]
  }
  throw new Error('expected a ValidationError')
}

describe('parsePluginManifest', () => {
  it('reads every documented top-level field and normalises config to the array form', () => {
    const manifest = parsePluginManifest({
      name: 'Hello World',
      url: 'https://github.com/example/hello',
      description: 'Greets',
      main: 'src/index.ts',
      config: [],
      publicJobs: {},
      stateless: true,
      posthogVersion: '>= 1.25.0',
    })
    expect(manifest).toEqual({
      name: 'Hello World',
      url: 'https://github.com/example/hello',
      description: 'Greets',
      main: 'src/index.ts',
      config: [],
      publicJobs: {},
      stateless: true,
      posthogVersion: '>= 1.25.0',
    })
  })

  it('accepts JSON text, including a leading byte-order mark', () => {
    expect(parsePluginManifest('{"name":"p"}')).toEqual({ name: 'p', config: [] })
    expect(parsePluginManifest('\uFEFF{"name":"p"}')).toEqual({ name: 'p', config: [] })
  })

  it('reports invalid JSON text as a problem of plugin.json carrying the parse message', () => {
    const problems = problemsOf(() => parsePluginManifest('{"name": "p",'))
    expect(problems).toHaveLength(1)
    expect(problems[0]?.field).toBe('plugin.json')
    expect(problems[0]?.message).toMatch(/^is not valid JSON: .+/)
    let parseMessage = ''
    try {
      JSON.parse('{"name": "p",')
    } catch (error) {
      parseMessage = (error as Error).message
    }
    expect(problems[0]?.message).toBe(`is not valid JSON: ${parseMessage}`)
  })

  it('rejects a value that is not an object', () => {
    expect(problemsOf(() => parsePluginManifest([]))).toEqual([
      { field: 'plugin.json', message: 'must be a JSON object, not an array' },
    ])
    expect(problemsOf(() => parsePluginManifest(null))).toEqual([
      { field: 'plugin.json', message: 'must be a JSON object, not null' },
    ])
    expect(problemsOf(() => parsePluginManifest('"just a string"'))).toEqual([
      { field: 'plugin.json', message: 'must be a JSON object, not a string' },
    ])
  })

  it('requires a non-empty string name', () => {
    expect(problemsOf(() => parsePluginManifest({}))).toEqual([{ field: 'name', message: 'is required' }])
    expect(problemsOf(() => parsePluginManifest({ name: 3 }))).toEqual([
      { field: 'name', message: 'must be a string, not a number' },
    ])
    expect(problemsOf(() => parsePluginManifest({ name: '  ' }))).toEqual([
      { field: 'name', message: 'must not be empty' },
    ])
  })

  it('checks the type of every optional top-level field', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        url: 1,
        description: false,
        main: '',
        stateless: 'yes',
        posthogVersion: 2,
        config: 'nope',
        publicJobs: [],
      }),
    )
    expect(problems).toEqual([
      { field: 'url', message: 'must be a string, not a number' },
      { field: 'description', message: 'must be a string, not a boolean' },
      { field: 'main', message: 'must not be empty; leave it out to use index.ts or index.js' },
      { field: 'stateless', message: 'must be true or false, not a string' },
      { field: 'posthogVersion', message: 'must be a string, not a number' },
      {
        field: 'config',
        message: 'must be an array of fields (or an object of fields by key), not a string',
      },
      { field: 'publicJobs', message: 'must be an object of jobs by name, not an array' },
    ])
  })

  it('ignores unknown extra fields at every level', () => {
    const manifest = parsePluginManifest({
      name: 'p',
      version: '1.0.0',
      keywords: ['x'],
      config: [{ key: 'a', name: 'A', placeholder: 'ignored', order: 3 }],
      publicJobs: { run: { payload: { day: { type: 'date', staff_only: true } }, extra: 1 } },
    })
    expect(manifest).toEqual({
      name: 'p',
      config: [{ key: 'a', name: 'A', type: 'string' }],
      publicJobs: { run: { payload: { day: { type: 'date' } } } },
    })
  })

  it('treats a missing or null config as no fields', () => {
    expect(parsePluginManifest({ name: 'p' }).config).toEqual([])
    expect(parsePluginManifest({ name: 'p', config: null }).config).toEqual([])
  })
})

describe('parsePluginManifest config fields', () => {
  it('keeps every documented property and defaults type to string', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: [
        {
          key: 'host',
          name: 'Host',
          default: 'eu.example.com',
          hint: 'Where to send',
          markdown: 'See **docs**',
          required: true,
          secret: false,
          required_if: [['mode', 'remote']],
          visible_if: [['mode']],
          order: 1,
        },
        { key: 'mode', type: 'choice', choices: ['local', 'remote'], default: 'local' },
        { key: 'mapping', type: 'json', default: '{"a":1}' },
        { key: 'certificate', type: 'attachment' },
      ],
    })
    expect(config).toEqual([
      {
        key: 'host',
        name: 'Host',
        type: 'string',
        default: 'eu.example.com',
        hint: 'Where to send',
        markdown: 'See **docs**',
        required: true,
        secret: false,
        required_if: [['mode', 'remote']],
        visible_if: [['mode']],
      },
      { key: 'mode', type: 'choice', choices: ['local', 'remote'], default: 'local' },
      { key: 'mapping', type: 'json', default: '{"a":1}' },
      { key: 'certificate', type: 'attachment' },
    ])
  })

  it('keeps a markdown-only entry as display text without a key', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: [{ markdown: '## Setup\nGet a key first.' }, { key: 'apiKey' }],
    })
    expect(config).toEqual([
      { type: 'string', markdown: '## Setup\nGet a key first.' },
      { key: 'apiKey', type: 'string' },
    ])
  })

  it('requires a key on entries that are not display text', () => {
    expect(problemsOf(() => parsePluginManifest({ name: 'p', config: [{ name: 'No key' }] }))).toEqual([
      {
        field: 'config[0].key',
        message: 'is required (only a display-text entry, with just `markdown`, may omit it)',
      },
    ])
    expect(problemsOf(() => parsePluginManifest({ name: 'p', config: [{ key: '' }, { key: 7 }] }))).toEqual([
      { field: 'config[0].key', message: 'must be a non-empty string' },
      { field: 'config[1].key', message: 'must be a non-empty string' },
    ])
  })

  it('rejects an entry that is not an object', () => {
    expect(problemsOf(() => parsePluginManifest({ name: 'p', config: ['apiKey'] }))).toEqual([
      { field: 'config[0]', message: 'must be an object, not a string' },
    ])
  })

  it('rejects an unknown type', () => {
    expect(
      problemsOf(() => parsePluginManifest({ name: 'p', config: [{ key: 'n', type: 'number' }] })),
    ).toEqual([{ field: 'config[0].type', message: 'must be one of string, json, attachment, choice' }])
  })

  it('checks the types of name, hint, markdown, required and secret', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        config: [{ key: 'a', name: 1, hint: [], markdown: {}, required: 'true', secret: 1 }],
      }),
    )
    expect(problems).toEqual([
      { field: 'config[0].name', message: 'must be a string, not a number' },
      { field: 'config[0].hint', message: 'must be a string, not an array' },
      { field: 'config[0].markdown', message: 'must be a string, not an object' },
      { field: 'config[0].required', message: 'must be true or false, not a string' },
      { field: 'config[0].secret', message: 'must be true or false, not a number' },
    ])
  })

  it('requires a choice field to have non-empty string choices', () => {
    const message = 'a choice field needs `choices`: a non-empty array of strings'
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        config: [
          { key: 'a', type: 'choice' },
          { key: 'b', type: 'choice', choices: [] },
          { key: 'c', type: 'choice', choices: ['x', 2] },
          { key: 'd', type: 'choice', choices: 'x,y' },
        ],
      }),
    )
    expect(problems).toEqual([
      { field: 'config[0].choices', message },
      { field: 'config[1].choices', message },
      { field: 'config[2].choices', message },
      { field: 'config[3].choices', message },
    ])
  })

  it('drops choices on fields that are not choice fields', () => {
    const { config } = parsePluginManifest({ name: 'p', config: [{ key: 'a', choices: ['x'] }] })
    expect(config).toEqual([{ key: 'a', type: 'string' }])
  })

  it('reports duplicate keys, naming the first use', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({ name: 'p', config: [{ key: 'a' }, { key: 'b' }, { key: 'a' }] }),
    )
    expect(problems).toEqual([
      { field: 'config[2].key', message: "duplicate key 'a' (already used by config[0])" },
    ])
  })

  it('validates required_if and visible_if as lists of [otherKey, value] or [otherKey]', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        config: [
          { key: 'a', required_if: 'mode' },
          { key: 'b', visible_if: [['mode', 'x', 'y'], ['mode', 1], [''], 'mode', ['ok', 'fine']] },
        ],
      }),
    )
    const pairMessage = 'must be [otherKey, value] or [otherKey] (keys and values are strings)'
    expect(problems).toEqual([
      { field: 'config[0].required_if', message: 'must be an array of [otherKey, value] pairs' },
      { field: 'config[1].visible_if[0]', message: pairMessage },
      { field: 'config[1].visible_if[1]', message: pairMessage },
      { field: 'config[1].visible_if[2]', message: pairMessage },
      { field: 'config[1].visible_if[3]', message: pairMessage },
    ])
  })

  it('drops empty condition lists instead of reading them as always true', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: [{ key: 'a', required_if: [], visible_if: [] }],
    })
    expect(config).toEqual([{ key: 'a', type: 'string' }])
  })

  it('stringifies unquoted number and boolean defaults of text fields', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: [
        { key: 'size', default: 100 },
        { key: 'flag', type: 'choice', choices: ['true', 'false'], default: true },
      ],
    })
    expect(config.map((field) => field.default)).toEqual(['100', 'true'])
  })

  it('checks defaults against the field type', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        config: [
          { key: 'a', default: { x: 1 } },
          { key: 'b', type: 'choice', choices: ['x', 'y'], default: 'z' },
          { key: 'c', type: 'json', default: '{not json' },
        ],
      }),
    )
    expect(problems).toHaveLength(3)
    expect(problems[0]).toEqual({ field: 'config[0].default', message: 'must be a string, not an object' })
    expect(problems[1]).toEqual({
      field: 'config[1].default',
      message: "must be one of the field's choices (x, y)",
    })
    expect(problems[2]?.field).toBe('config[2].default')
    expect(problems[2]?.message).toMatch(/^is not valid JSON: /)
  })

  it('keeps json defaults as written, and drops defaults of attachments', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: [
        { key: 'a', type: 'json', default: { events: ['x'] } },
        { key: 'b', type: 'json', default: '[1,2]' },
        { key: 'c', type: 'attachment', default: 'file.txt' },
      ],
    })
    expect(config).toEqual([
      { key: 'a', type: 'json', default: { events: ['x'] } },
      { key: 'b', type: 'json', default: '[1,2]' },
      { key: 'c', type: 'attachment' },
    ])
  })
})

describe('parsePluginManifest legacy config object map', () => {
  it('takes each key from the map key', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: {
        apiKey: { name: 'API key', type: 'string', required: true, secret: true },
        region: { name: 'Region', type: 'choice', choices: ['us', 'eu'] },
      },
    })
    expect(config).toEqual([
      { key: 'apiKey', name: 'API key', type: 'string', required: true, secret: true },
      { key: 'region', name: 'Region', type: 'choice', choices: ['us', 'eu'] },
    ])
  })

  it('orders by `order`, keeping entries without it after, in map order', () => {
    const { config } = parsePluginManifest({
      name: 'p',
      config: { c: {}, b: { order: 2 }, d: {}, a: { order: 1 } },
    })
    expect(config.map((field) => field.key)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('names problems by map key', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        config: { apiKey: { type: 'choice' }, region: 'eu', other: { type: 'date' } },
      }),
    )
    expect(problems).toEqual([
      {
        field: 'config.apiKey.choices',
        message: 'a choice field needs `choices`: a non-empty array of strings',
      },
      { field: 'config.region', message: 'must be an object, not a string' },
      { field: 'config.other.type', message: 'must be one of string, json, attachment, choice' },
    ])
  })

  it('does not let a key like __proto__ or constructor reach the prototype', () => {
    const manifest = parsePluginManifest(
      '{"name":"p","config":{"__proto__":{"name":"odd"},"constructor":{}}}',
    )
    expect(manifest.config).toEqual([
      { key: '__proto__', name: 'odd', type: 'string' },
      { key: 'constructor', type: 'string' },
    ])
  })
})

describe('parsePluginManifest publicJobs', () => {
  it('reads jobs with payload field specs', () => {
    const manifest = parsePluginManifest({
      name: 'p',
      publicJobs: {
        'Export historical events': {
          payload: {
            dateRange: { type: 'daterange', required: true, title: 'Dates' },
            dryRun: { type: 'boolean', default: false },
          },
        },
        'Say hi': {},
      },
    })
    expect(manifest.publicJobs).toEqual({
      'Export historical events': {
        payload: {
          dateRange: { type: 'daterange', required: true, title: 'Dates' },
          dryRun: { type: 'boolean', default: false },
        },
      },
      'Say hi': {},
    })
  })

  it('accepts every payload type', () => {
    const types = ['string', 'boolean', 'json', 'number', 'date', 'daterange']
    const payload = Object.fromEntries(types.map((type) => [type, { type }]))
    const manifest = parsePluginManifest({ name: 'p', publicJobs: { job: { payload } } })
    expect(manifest.publicJobs?.job?.payload).toEqual(payload)
  })

  it('reports malformed jobs and payload fields by path', () => {
    const problems = problemsOf(() =>
      parsePluginManifest({
        name: 'p',
        publicJobs: {
          a: 'run',
          b: { payload: [] },
          myJob: {
            payload: { field: { type: 'datetime' }, other: { type: 'string', required: 'yes', title: 1 } },
          },
          c: { payload: { bare: 'date' } },
        },
      }),
    )
    expect(problems).toEqual([
      { field: 'publicJobs.a', message: 'must be an object (with an optional `payload`), not a string' },
      { field: 'publicJobs.b.payload', message: 'must be an object of fields by name, not an array' },
      {
        field: 'publicJobs.myJob.payload.field.type',
        message: 'must be one of string, boolean, json, number, date, daterange',
      },
      { field: 'publicJobs.myJob.payload.other.title', message: 'must be a string, not a number' },
      { field: 'publicJobs.myJob.payload.other.required', message: 'must be true or false, not a string' },
      { field: 'publicJobs.c.payload.bare', message: 'must be an object with a `type`, not a string' },
    ])
  })
})

describe('parsePluginManifest error reporting', () => {
  it('collects every problem at once into one error', () => {
    let caught: unknown
    try {
      parsePluginManifest({
        url: 5,
        config: [
          { key: 'a', type: 'choice' },
          { key: 'a', type: 'bogus' },
        ],
        publicJobs: { myJob: { payload: { field: {} } } },
      })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ValidationError)
    const error = caught as ValidationError
    expect(error.problems.map((problem) => problem.field)).toEqual([
      'name',
      'url',
      'config[0].choices',
      'config[1].type',
      'config[1].key',
      'publicJobs.myJob.payload.field.type',
    ])
    expect(error.message).toMatch(/^\[sluice:manifest\] plugin\.json is invalid: name: is required; url: /)
  })
})
