export {
  type ArchiveEntry,
  type ArchiveKind,
  type ArchiveLimits,
  archiveKind,
  formatBytes,
  readArchive,
} from './archive.js'
export {
  contentHash,
  type LoadedPluginFiles,
  loadPluginArchive,
  loadPluginFiles,
  loadPluginSources,
  type PluginArchiveOptions,
  type PluginFiles,
  type PluginFilesLimits,
  type PluginFilesOptions,
  readPluginArchive,
  readPluginFiles,
  readPluginSources,
  toPluginSource,
} from './plugin-files.js'
