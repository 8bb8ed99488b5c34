import { defineConfig } from 'vitest/config'

/** Runs every package's tests in one vitest process (IDE integration; `pnpm test` goes through turbo). */
export default defineConfig({
  test: { projects: ['packages/*', 'apps/*', 'examples/plugins/*'] },
})
