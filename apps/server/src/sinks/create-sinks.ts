import type { Sink } from '@sluice/core'
import { createPostHogBatchSink, createWebhookSink } from '@sluice/http'
import { createKafkaSink } from '@sluice/queue-kafka'
import { createPubSubSink } from '@sluice/queue-pubsub'
import type { PostgresStore } from '@sluice/store-postgres'
import type { ServerConfig, SinkSetting } from '../config.js'
import { createJsonlFileSink, createJsonlStreamSink } from './jsonl-sink.js'

/** Where the Pub/Sub queue and sinks connect: the emulator when `PUBSUB_EMULATOR_HOST` is set. */
export function pubsubConnection(config: ServerConfig) {
  return {
    projectId: config.pubsubProjectId,
    ...(config.pubsubEmulatorHost === null ? {} : { apiEndpoint: config.pubsubEmulatorHost }),
  }
}

/** Where the Kafka queue and sinks connect, and how they authenticate. */
export function kafkaConnection({ kafka }: ServerConfig) {
  return {
    brokers: kafka.brokers ?? '',
    ...(kafka.ssl === false ? {} : { ssl: kafka.ssl === true ? true : { ca: [kafka.ssl.ca] } }),
    ...(kafka.sasl === null ? {} : { sasl: kafka.sasl }),
  }
}

/** The sinks `SLUICE_SINKS` names, in its order. */
export function createSinks(config: ServerConfig, store: PostgresStore): Sink[] {
  const create = (setting: SinkSetting): Sink => {
    switch (setting.kind) {
      case 'stdout':
        return createJsonlStreamSink({ stream: process.stdout, name: 'stdout' })
      case 'file':
        return createJsonlFileSink({ path: setting.path })
      case 'kafka':
        return createKafkaSink({ ...kafkaConnection(config), topic: setting.topic })
      case 'pubsub':
        return createPubSubSink({ ...pubsubConnection(config), topic: setting.topic })
      case 'postgres':
        return store.createSink({ table: setting.table })
      case 'posthog':
        return createPostHogBatchSink({ host: setting.url, apiKey: config.posthogSink.apiKey ?? '' })
      case 'webhook':
        return createWebhookSink({ url: setting.url, headers: config.webhookSink.headers })
    }
  }
  return config.sinks.map(create)
}
