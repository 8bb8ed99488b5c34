import { sluiceProject } from '../../tooling/vitest/project.ts'

export default sluiceProject('store-redis', { services: ['redis'] })
