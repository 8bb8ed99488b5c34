export {
  classifyPostgresError,
  type PostgresFailure,
  type PostgresFailureKind,
  redactUrl,
} from './errors.js'
export { type PostgresSinkOptions, SINK_EVENTS_PER_STATEMENT } from './sink.js'
export {
  createPostgresStore,
  type PostgresDataDirOptions,
  type PostgresPgliteOptions,
  type PostgresServerOptions,
  type PostgresStore,
  type PostgresStoreCommonOptions,
  type PostgresStoreOptions,
} from './store.js'
