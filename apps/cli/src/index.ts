export { type ArchiveEntry, type ArchiveLimits, archiveKind, readArchive } from './archive.js'
export { EXIT, runCli } from './cli.js'
export { type EventDefaults, type EventLine, parseEventLine } from './event-lines.js'
export type { CliIo } from './io.js'
export {
  type ChainConfigResult,
  type ChainPlugin,
  type ChainPluginConfig,
  type ConfigArguments,
  folderName,
  resolveChainConfigs,
} from './plugin-config.js'
export {
  contentHash,
  type LoadedPluginFiles,
  loadPluginFiles,
  type PluginFiles,
  type PluginFilesOptions,
  pluginProblemLines,
  readPluginFiles,
  toPluginSource,
} from './plugin-files.js'
export { formatRunSummary, type RunCommandOptions, type RunCounts, runCommand } from './run.js'
export { type ValidateCommandOptions, validateCommand } from './validate.js'
