import kafkajs, { type Message } from 'kafkajs'
import { type KafkaConnection, type KafkaConnectionOptions, lazyClient } from './connection.js'
import { createDirectProducerSession } from './direct-producer.js'
import { chunkRecords, type OutgoingRecord } from './wire.js'

export type { OutgoingRecord } from './wire.js'

/** One lazily connected producer. */
export interface ProducerSession {
  /** Produces in order, one request after another, each acknowledged by all in-sync replicas. */
  send(topic: string, records: readonly OutgoingRecord[]): Promise<void>
  close(): Promise<void>
}

/**
 * The producer for `options`: Sluice's own Produce requests (`createDirectProducerSession`),
 * or kafkajs's producer when SASL is configured, as only kafkajs authenticates with SASL.
 */
export function createProducerSession(
  connection: KafkaConnection,
  options: KafkaConnectionOptions,
): ProducerSession {
  return options.sasl === undefined
    ? createDirectProducerSession(connection, options)
    : createKafkajsProducerSession(connection)
}

/**
 * A session over a kafkajs producer. Keys are placed with kafkajs's `DefaultPartitioner` (murmur2,
 * the Java client's placement), chosen explicitly so a key lands on the same partition whichever
 * client produced it, and so kafkajs has nothing to warn about.
 */
export function createKafkajsProducerSession(connection: KafkaConnection): ProducerSession {
  const producer = lazyClient(() =>
    connection.kafka.producer({
      createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    }),
  )

  return {
    async send(topic, records) {
      if (records.length === 0) return
      const client = await producer.get()
      for (const chunk of chunkRecords(records)) {
        const messages = chunk.map(({ record: { key, value, headers } }): Message => {
          const message: Message = { key, value }
          if (headers && Object.keys(headers).length > 0) message.headers = { ...headers }
          return message
        })
        await client.send({ topic, messages, acks: -1 })
      }
    },
    close: () => producer.close(),
  }
}
