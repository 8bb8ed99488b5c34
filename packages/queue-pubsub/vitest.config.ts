import { sluiceProject } from '../../tooling/vitest/project.ts'

export default sluiceProject('queue-pubsub', { services: ['pubsub'] })
