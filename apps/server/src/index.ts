export {
  type AdminApiOptions,
  type ConfigHealthControl,
  createAdminRoutes,
  type DeadLetterReplayOutcome,
} from './admin/index.js'
export { type AdminTokenCheck, loadAdminToken } from './admin-token.js'
export {
  CAPTURE_PATHS,
  type CaptureCounters,
  type CaptureRoutesOptions,
  createCaptureRoutes,
} from './capture/capture-routes.js'
export {
  type CapturedEvent,
  type CaptureRejection,
  type CaptureRequest,
  type DecodedCapture,
  type DecodeLimits,
  decodeCaptureRequest,
} from './capture/decode-request.js'
export { createFlagsRoutes } from './capture/flags-routes.js'
export {
  CONFIG_VARIABLES,
  ConfigError,
  LOG_LEVELS,
  type LogLevel,
  loadServerConfig,
  type ServerConfig,
  type SinkSetting,
} from './config.js'
export { createJsonLogger, type LogFields, type Logger } from './logger.js'
export { type RunServerIo, runServer } from './run-server.js'
export { type SluiceServer, startServer } from './server.js'
export {
  createJsonlFileSink,
  createJsonlStreamSink,
  type JsonlFileSinkOptions,
  type JsonlStreamSinkOptions,
} from './sinks/jsonl-sink.js'
