import { sluiceProject } from './vitest/project.ts'

export default sluiceProject('tooling')
