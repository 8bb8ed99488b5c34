import { sluiceProject } from '../../tooling/vitest/project.ts'

export default sluiceProject('plugin-files')
