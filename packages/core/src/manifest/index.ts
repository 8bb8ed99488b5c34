export { parsePluginManifest } from './parse-manifest.js'
export { normalisePluginPath, resolvePluginEntry, resolveRelativeImport } from './resolve-entry.js'
export type {
  ConfigCondition,
  ConfigField,
  ConfigFieldType,
  JobPayloadField,
  JobPayloadFieldType,
  PluginConfigSchema,
  PluginManifest,
  PublicJobSpec,
} from './types.js'
