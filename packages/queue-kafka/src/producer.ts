import kafkajs, { type Message, type Producer } from 'kafkajs'
import type { KafkaConnection, KafkaConnectionOptions } from './connection.js'
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
  let producer: Promise<Producer> | undefined

  const connected = (): Promise<Producer> => {
    producer ??= (async () => {
      const created = connection.kafka.producer({
        createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      })
      await created.connect()
      return created
    })()
    producer.catch(() => {
      producer = undefined
    })
    return producer
  }

  return {
    async send(topic, records) {
      if (records.length === 0) return
      const client = await connected()
      for (const chunk of chunkRecords(records)) {
        const messages = chunk.map(({ key, value, headers }): Message => {
          const message: Message = { key, value }
          if (headers && Object.keys(headers).length > 0) message.headers = { ...headers }
          return message
        })
        await client.send({ topic, messages, acks: -1 })
      }
    },
    async close() {
      const pending = producer
      producer = undefined
      if (pending) await (await pending.catch(() => undefined))?.disconnect()
    },
  }
}
