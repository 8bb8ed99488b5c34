/**
 * The shape of a plugin's `plugin.json` after `parsePluginManifest` has validated and
 * normalised it. Everything here is plain data: safe to store, send and compare.
 */

/**
 * The kind of a config field.
 * - `string`: free text (the default when `type` is absent).
 * - `json`: JSON text; the saved config holds the parsed value.
 * - `attachment`: an uploaded file, exposed as `meta.attachments[key]`, never part of the config.
 * - `choice`: one of the field's `choices`.
 */
export type ConfigFieldType = 'string' | 'json' | 'attachment' | 'choice'

/**
 * One condition of `required_if` / `visible_if`: `[otherKey, value]` holds when the other field's
 * value equals `value`; `[otherKey]` holds when the other field has any non-empty value.
 *
 * @example ['mode', 'advanced']
 */
export type ConfigCondition = readonly [otherKey: string, value?: string]

/** One entry of a plugin's config schema: an input field, or (without `key`) display text. */
export interface ConfigField {
  /**
   * The key the value is stored under (`meta.config[key]`). Absent only for display-text
   * entries, which carry `markdown` and nothing to fill in.
   */
  key?: string
  /** Label shown to the operator. */
  name?: string
  /**
   * The kind of value.
   * @default 'string'
   */
  type: ConfigFieldType
  /**
   * Value used when the operator leaves the field empty. For `string` and `choice` fields it is a
   * string; for `json` fields any JSON value (a string is JSON text). Never set on attachments.
   */
  default?: unknown
  /** Help text shown under the field (Markdown). */
  hint?: string
  /** Markdown shown with the field; on its own (no `key`) the entry is display text. */
  markdown?: string
  /**
   * Whether a value must be present.
   * @default false
   */
  required?: boolean
  /**
   * Whether the value is write-only: masked in every response, log line and error message.
   * @default false
   */
  secret?: boolean
  /** The allowed values of a `choice` field (non-empty, strings only). */
  choices?: readonly string[]
  /** The field is required when ALL of these conditions hold (as in PostHog). */
  required_if?: readonly ConfigCondition[]
  /** The field is shown (and can be required) only when ALL of these conditions hold. */
  visible_if?: readonly ConfigCondition[]
}

/** A plugin's config schema: fields in display order. */
export type PluginConfigSchema = readonly ConfigField[]

/** The value type of one payload field of a public job, as the operator's UI renders it. */
export type JobPayloadFieldType = 'string' | 'boolean' | 'json' | 'number' | 'date' | 'daterange'

/** One payload field of a public job. */
export interface JobPayloadField {
  /** The kind of value the operator enters. */
  type: JobPayloadFieldType
  /** Label shown to the operator. */
  title?: string
  /**
   * Whether the operator must fill it in before running the job.
   * @default false
   */
  required?: boolean
  /** Value pre-filled in the operator's form. */
  default?: unknown
}

/** A job the operator may trigger by hand, with the payload form to show for it. */
export interface PublicJobSpec {
  /** Payload fields by name; absent when the job takes no payload. */
  payload?: Readonly<Record<string, JobPayloadField>>
}

/** A validated, normalised `plugin.json`. */
export interface PluginManifest {
  /** Display name of the plugin (required, non-empty). */
  name: string
  /** Where the plugin's source or homepage lives. */
  url?: string
  /** What the plugin does. */
  description?: string
  /**
   * Entry file, relative to the plugin root; see `resolvePluginEntry`.
   * @default 'index.ts', else 'index.js'
   */
  main?: string
  /** The config schema, always in array form (a legacy object map is converted). */
  config: PluginConfigSchema
  /** Jobs the operator may trigger by hand, by job name. */
  publicJobs?: Readonly<Record<string, PublicJobSpec>>
  /** Declared by some plugins; accepted and carried, with no effect on the runtime. */
  stateless?: boolean
  /** The PostHog version the plugin was written for; accepted and ignored. */
  posthogVersion?: string
}
