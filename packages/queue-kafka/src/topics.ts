import { type KafkaConnection, lazyClient } from './connection.js'

/** How topics this package creates are laid out. */
export interface TopicLayoutOptions {
  /**
   * Partitions of a topic this adapter creates (existing topics are left as they are). Partitions
   * bound how many consumers of one group get work at once; a key's records stay in one partition.
   * @default 8
   */
  partitions?: number
  /**
   * Replicas of each partition of a topic this adapter creates.
   * @default min(3, the number of brokers in the cluster)
   */
  replicationFactor?: number
}

/** Kafka's rule for topic names. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

/** Why `topic` is not a usable Kafka topic name, or null when it is. */
export function topicNameProblem(topic: unknown): string | null {
  if (typeof topic !== 'string' || !TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    return `topic ${JSON.stringify(topic)} is not a valid Kafka topic name (1–249 of a-z A-Z 0-9 . _ -)`
  }
  return null
}

/** Why a layout option is invalid, or null. */
export function layoutProblem(options: TopicLayoutOptions): string | null {
  for (const [name, value] of [
    ['partitions', options.partitions],
    ['replicationFactor', options.replicationFactor],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      return `${name} must be a positive integer, got ${String(value)}`
    }
  }
  return null
}

/** Creates topics on first use, once per topic and process. */
export interface TopicEnsurer {
  ensure(topic: string): Promise<void>
  close(): Promise<void>
}

/**
 * Creates each topic the first time it is used (an existing one is left unchanged). Brokers with
 * `auto.create.topics.enable=false`, as most production clusters and tooling/services/kafka.sh run,
 * need this; on brokers that create topics on their own it makes the partition count deliberate.
 */
export function createTopicEnsurer(connection: KafkaConnection, layout: TopicLayoutOptions): TopicEnsurer {
  const ensured = new Map<string, Promise<void>>()
  const admin = lazyClient(() => connection.kafka.admin())

  const create = async (topic: string): Promise<void> => {
    const client = await admin.get()
    if ((await client.listTopics()).includes(topic)) return
    const { brokers } = await client.describeCluster()
    try {
      // Resolves false when another client created the topic meanwhile.
      await client.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: layout.partitions ?? 8,
            replicationFactor: layout.replicationFactor ?? Math.max(1, Math.min(3, brokers.length)),
          },
        ],
      })
    } catch (error) {
      // Without the right to create topics, an existing topic is still fine to use.
      const exists = await client
        .fetchTopicMetadata({ topics: [topic] })
        .then(() => true)
        .catch(() => false)
      if (!exists) throw error
    }
  }

  return {
    ensure(topic) {
      let pending = ensured.get(topic)
      if (!pending) {
        pending = create(topic)
        ensured.set(topic, pending)
        pending.catch(() => ensured.delete(topic))
      }
      return pending
    },
    close() {
      ensured.clear()
      return admin.close()
    },
  }
}
