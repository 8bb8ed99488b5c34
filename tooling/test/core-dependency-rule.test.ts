import { execFileSync } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const probe = join(root, 'packages', 'core', 'src', '__dependency-rule-probe__.ts')

function lintCore(): { ok: boolean; output: string } {
  try {
    const output = execFileSync(
      'pnpm',
      ['exec', 'biome', 'lint', '--max-diagnostics=50', 'packages/core/src'],
      {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe',
      },
    )
    return { ok: true, output }
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string }
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` }
  }
}

// Each case runs Biome over the whole core in a child process: seconds on a loaded machine.
describe('the dependency rule on packages/core/src (ARCHITECTURE.md)', { timeout: 60_000 }, () => {
  afterEach(() => rmSync(probe, { force: true }))

  it('passes on the core as it is', () => {
    const result = lintCore()
    expect(result.output).not.toContain('noNodejsModules')
    expect(result.ok).toBe(true)
  })

  it.each([
    [
      'a node: import',
      "import { readFileSync } from 'node:fs'\nexport const probe = readFileSync\n",
      'noNodejsModules',
    ],
    ['a bare builtin import', "import { join } from 'path'\nexport const probe = join\n", 'noNodejsModules'],
    ['the process global', 'export const probe = () => process.env\n', 'noRestrictedGlobals'],
    ['the Buffer global', 'export const probe = () => Buffer.from("x")\n', 'noRestrictedGlobals'],
    [
      'a timer instead of the Clock port',
      'export const probe = () => setTimeout(() => {}, 1)\n',
      'noRestrictedGlobals',
    ],
  ])('fails the lint when core uses %s', (_label, source, rule) => {
    writeFileSync(probe, source)
    const result = lintCore()
    expect(result.ok).toBe(false)
    expect(result.output).toContain(rule)
  })
})
