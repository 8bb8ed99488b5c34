import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineProject, type UserWorkspaceConfig } from 'vitest/config'

/**
 * Resolves workspace packages to their TypeScript source, so tests never need a build first.
 * Vitest also hands these conditions to its workers as `node --conditions`, so they must not
 * change how Node itself loads dependencies: with `import`, pg's require('pg-pool') loaded an ESM
 * build; with `module`, @opentelemetry/api (under @google-cloud/pubsub) loaded an ESM build whose
 * imports do not resolve. Vite adds `import`/`require` per import on its own.
 */
const sourceConditions = ['sluice-source', 'node', 'default']

/** A service tooling/services/ can start. */
export type TestService = 'redis' | 'postgres' | 'kafka' | 'pubsub'

/** Options of {@link sluiceProject}. */
export interface SluiceProjectOptions {
  /** Services the integration tests need; `--mode integration` starts them first (idempotent). */
  services?: readonly TestService[]
  /** Vitest test options, merged over the defaults. */
  test?: UserWorkspaceConfig['test']
}

const servicesScript = join(dirname(fileURLToPath(import.meta.url)), '../services/services.sh')

/**
 * The vitest project every package uses: `export default sluiceProject('core')`.
 * Unit tests are `*.test.ts`; `*.integration.test.ts` need real services and run only in the
 * `integration` mode (`vitest run --mode integration`, behind `pnpm test:integration`), which
 * starts the listed services through tooling/services/ when they are down.
 */
export function sluiceProject(name: string, options: SluiceProjectOptions = {}) {
  return defineProject(({ mode }) => {
    const integration = mode === 'integration'
    if (integration && options.services?.length) {
      execFileSync('bash', [servicesScript, 'start', ...options.services], { stdio: 'inherit' })
    }
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
        ...options.test,
      },
    }
  })
}
