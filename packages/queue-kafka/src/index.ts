export type { KafkaConnectionOptions, KafkaLogLevel } from './connection.js'
export {
  createKafkaDeadLetterTopic,
  deadLetterHeaders,
  decodeDeadLetter,
  type KafkaDeadLetterTopic,
  type KafkaDeadLetterTopicOptions,
} from './dead-letter.js'
export { classifyKafkaError, type KafkaFailure, toQueueError, toSinkError } from './errors.js'
export { createKafkaQueue, type KafkaQueueOptions, kafkaQueueCapabilities } from './queue.js'
export { createKafkaSink, eventKey, type KafkaSinkOptions } from './sink.js'
export type { TopicLayoutOptions } from './topics.js'
