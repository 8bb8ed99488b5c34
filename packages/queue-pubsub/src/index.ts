export type { PubSubConnectionOptions } from './client.js'
export { createPubSubQueue, type PubSubQueueOptions, pubSubQueueCapabilities } from './queue.js'
export {
  createPubSubSink,
  EVENT_ATTRIBUTE,
  type PubSubSinkOptions,
  SEQUENCE_ATTRIBUTE,
  TEAM_ATTRIBUTE,
  UUID_ATTRIBUTE,
  WRITER_ATTRIBUTE,
} from './sink.js'
