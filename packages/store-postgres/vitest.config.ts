import { sluiceProject } from '../../tooling/vitest/project.ts'

export default sluiceProject('store-postgres', { services: ['postgres'] })
