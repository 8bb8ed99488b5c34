/** Log levels of plugin and system entries (the plugin `console` methods). */
export type LogLevel = 'debug' | 'log' | 'info' | 'warn' | 'error'

/** One log line of a plugin config. */
export interface LogEntry {
  configId: number
  teamId: number
  level: LogLevel
  /** `plugin` for the plugin's console, `system` for what Sluice records about it. */
  source: 'plugin' | 'system'
  message: string
  /** Epoch ms. */
  timestamp: number
  /** The server instance that wrote it. */
  instanceId: string
}

/** Which entries to return. */
export interface LogQuery {
  configId: number
  /** Only entries at or after this epoch ms. */
  since?: number
  /** Only these levels. */
  levels?: readonly LogLevel[]
  /** Only entries whose message contains this text. */
  search?: string
  /**
   * At most this many, newest first.
   * @default 100
   */
  limit?: number
}

/** Port: where plugin logs go, and where the admin API reads them. */
export interface LogSink {
  append(entries: readonly LogEntry[]): Promise<void>
  /** Newest first. */
  query(query: LogQuery): Promise<LogEntry[]>
}
