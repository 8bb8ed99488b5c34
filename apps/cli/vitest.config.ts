import { sluiceProject } from '../../tooling/vitest/project.ts'

// Tests spawn the real `sluice` process; the bound is generous for a shared 2-core machine.
export default sluiceProject('cli', { test: { testTimeout: 60_000 } })
