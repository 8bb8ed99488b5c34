import { sluiceProject } from '../../tooling/vitest/project.ts'

// Sandbox tests wait out call timeouts and isolate rebuilds; two busy cores can stretch them.
export default sluiceProject('sandbox-isolated-vm', { test: { testTimeout: 30_000 } })
