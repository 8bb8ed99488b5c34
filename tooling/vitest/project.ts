import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

/** Resolves workspace packages to their TypeScript source, so tests never need a build first. */
const sourceConditions = ['sluice-source', 'module', 'node', 'import', 'default']

/**
 * The vitest project every package uses: `export default sluiceProject('core')`.
 * Unit tests are `*.test.ts`; `*.integration.test.ts` need real services and run only in the
 * `integration` mode (`vitest run --mode integration`, behind `pnpm test:integration`).
 */
export function sluiceProject(name: string, overrides: UserWorkspaceConfig['test'] = {}) {
  return defineProject(({ mode }) => {
    const integration = mode === 'integration'
    return {
      resolve: { conditions: sourceConditions },
      ssr: { resolve: { conditions: sourceConditions, externalConditions: sourceConditions } },
      test: {
        name,
        environment: 'node',
        include: integration
          ? ['src/**/*.integration.test.ts', 'test/**/*.integration.test.ts']
          : ['src/**/*.test.ts', 'test/**/*.test.ts'],
        exclude: integration ? ['**/node_modules/**'] : ['**/node_modules/**', '**/*.integration.test.ts'],
        ...overrides,
      },
    }
  })
}
