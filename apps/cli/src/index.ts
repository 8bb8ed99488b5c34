// The plugin readers moved to @sluice/plugin-files; re-exported so the CLI's public API is unchanged.
export {
  type ArchiveEntry,
  type ArchiveLimits,
  archiveKind,
  contentHash,
  type LoadedPluginFiles,
  loadPluginFiles,
  type PluginFiles,
  type PluginFilesOptions,
  readArchive,
  readPluginFiles,
  toPluginSource,
} from '@sluice/plugin-files'
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
export { pluginProblemLines } from './problem-lines.js'
export { formatRunSummary, type RunCommandOptions, type RunCounts, runCommand } from './run.js'
export { type ValidateCommandOptions, validateCommand } from './validate.js'
