import { sluiceProject } from '../../tooling/vitest/project.ts'

export default sluiceProject('server', { services: ['kafka', 'postgres', 'redis', 'pubsub'] })
