import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { sluice } from './helpers.js'

const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'))

describe('sluice (the process)', () => {
  it('prints the commands for --help and help, on stdout with exit 0', async () => {
    const help = await sluice(['--help'])
    expect(help).toMatchObject({ code: 0, stderr: '' })
    expect(help.stdout).toMatch(/^sluice — run PostHog plugins in isolated-vm sandboxes\n\nUsage:\n/)
    expect(help.stdout).toContain('  sluice validate <plugin> [<plugin> ...] [config options]\n')
    expect(help.stdout).toContain(
      '  sluice run <plugin> [<plugin> ...] [config options] < events.jsonl > out.jsonl\n',
    )
    expect(await sluice(['help'])).toEqual(help)
  })

  it('prints command help for <command> --help, -h and help <command>', async () => {
    const run = await sluice(['run', '--help'])
    expect(run).toMatchObject({ code: 0, stderr: '' })
    expect(run.stdout).toMatch(/^Usage: sluice run <plugin> \[<plugin> \.\.\.\] \[config options\]/)
    expect(run.stdout).toContain('  --config <plugin>.<key>=<value>')
    expect(await sluice(['help', 'run'])).toEqual(run)
    const validate = await sluice(['validate', '-h'])
    expect(validate).toMatchObject({ code: 0, stderr: '' })
    expect(validate.stdout).toMatch(/^Usage: sluice validate <plugin>/)
  })

  it('prints the package version', async () => {
    expect(await sluice(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
  })

  it('exits 2 with a clear message for an unknown command, option or missing argument', async () => {
    expect(await sluice(['frobnicate'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "sluice: unknown command 'frobnicate'\nRun 'sluice --help' for the commands.\n",
    })
    expect(await sluice(['--frob'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "sluice: unknown option '--frob'\nRun 'sluice --help' for the commands.\n",
    })
    expect(await sluice(['run', 'x', '--verbose'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "sluice run: unknown option '--verbose'\nRun 'sluice run --help' for usage.\n",
    })
    expect(await sluice(['validate', 'x', '--config'])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "sluice validate: option '--config <value>' argument missing\nRun 'sluice validate --help' for usage.\n",
    })
    expect(await sluice(['run'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "sluice run: give at least one plugin folder or archive\nRun 'sluice run --help' for usage.\n",
    })
    expect(await sluice(['help', 'frob'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "sluice help: unknown command 'frob'\nRun 'sluice --help' for the commands.\n",
    })
  })

  it('prints the help on stderr and exits 2 when no command is given', async () => {
    const none = await sluice([])
    expect(none.code).toBe(2)
    expect(none.stdout).toBe('')
    expect(none.stderr).toMatch(/^sluice — run PostHog plugins/)
  })
})
