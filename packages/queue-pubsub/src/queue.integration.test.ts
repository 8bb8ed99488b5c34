import { describeQueueConformance } from '@sluice/conformance'
import { createPubSubQueue, pubSubQueueCapabilities } from './queue.js'

const emulator = process.env.PUBSUB_EMULATOR_HOST ?? '127.0.0.1:8085'
const projectId = 'sluice-test'

describeQueueConformance(
  'pubsub',
  () => createPubSubQueue({ projectId, apiEndpoint: emulator }),
  pubSubQueueCapabilities,
  { time: 'real', close: (queue) => queue.close() },
)
