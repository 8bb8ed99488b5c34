import { sluiceProject } from '../../tooling/vitest/project.ts'

// One file at a time: the integration files share two cores with a Kafka broker (two, for the
// durability test).
export default sluiceProject('queue-kafka', { services: ['kafka'], test: { fileParallelism: false } })
