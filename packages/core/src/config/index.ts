export { maskSecrets, mergeWithSecrets, SECRET_MASK, secretKeys } from './mask-secrets.js'
export {
  assertValidPluginConfig,
  type PluginConfigValidation,
  RESERVED_CONFIG_KEYS,
  type ValidatePluginConfigOptions,
  validatePluginConfig,
} from './validate-config.js'
export { isEmptyConfigValue } from './values.js'
