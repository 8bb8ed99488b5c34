// `sluice validate`: everything that can be checked about a plugin without running events.
import {
  type ConfigField,
  type LoadedPlugin,
  type PluginManifest,
  type PluginSource,
  parsePluginManifest,
  resolvePluginEntry,
  ValidationError,
} from '@sluice/core'
import { contentHash, formatBytes, type PluginFiles, readPluginFiles } from '@sluice/plugin-files'
import { createIsolatedVmSandbox } from '@sluice/sandbox-isolated-vm'
import { type CliIo, writeTo } from './io.js'
import { type ConfigArguments, folderName, resolveChainConfigs } from './plugin-config.js'
import { pluginProblemLines } from './problem-lines.js'

/** What `sluice validate` was asked to do. */
export interface ValidateCommandOptions extends ConfigArguments {
  /** Plugin folders or archives. */
  plugins: readonly string[]
}

/** The report of one plugin: sections of `label  text`, problems under the section they belong to. */
interface Report {
  lines: string[]
  problems: number
  warnings: number
}

const LABEL_WIDTH = 13

function section(report: Report, label: string, text: string, problems: readonly string[] = []) {
  report.lines.push(
    `  ${label.padEnd(LABEL_WIDTH)}${problems.length > 0 ? plural(problems.length, 'problem') : text}`,
  )
  for (const problem of problems) report.lines.push(`    ${problem}`)
  report.problems += problems.length
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`
const list = (items: readonly string[]) => (items.length > 0 ? items.join(', ') : 'none')

function describeField(field: ConfigField): string {
  const traits: string[] = [
    field.type === 'choice' ? `choice: ${(field.choices ?? []).join('|')}` : field.type,
  ]
  if (field.required) traits.push('required')
  if (field.required_if) traits.push('required if set')
  if (field.secret) traits.push('secret')
  if (field.default !== undefined) {
    const text = typeof field.default === 'string' ? field.default : JSON.stringify(field.default)
    traits.push(`default ${JSON.stringify(text.length > 24 ? `${text.slice(0, 21)}...` : text)}`)
  }
  return `${field.key} (${traits.join(', ')})`
}

/** plugin.json's `main`, read leniently so the code can be checked even when plugin.json is invalid. */
function rawMain(text: string | undefined): string | undefined {
  try {
    const value = JSON.parse(text ?? '') as { main?: unknown }
    return typeof value.main === 'string' && value.main.trim() !== '' ? value.main : undefined
  } catch {
    return undefined
  }
}

async function validateOne(
  path: string,
  plugin: PluginFiles,
  options: ValidateCommandOptions,
  io: CliIo,
): Promise<Report> {
  const report: Report = { lines: [`Validating ${path}`], problems: 0, warnings: 0 }
  const fileCount = Object.keys(plugin.files).length
  const skipped = plugin.skipped.length > 0 ? ` (skipped: ${plugin.skipped.join(', ')})` : ''
  section(report, 'files', `${plural(fileCount, 'file')}, ${formatBytes(plugin.bytes)}${skipped}`)

  // plugin.json: its own fields, then the config schema, then the entry file.
  let manifest: PluginManifest | null = null
  const manifestProblems: string[] = []
  const schemaProblems: string[] = []
  const text = plugin.files['plugin.json']
  if (text === undefined) manifestProblems.push('plugin.json: is missing')
  else {
    try {
      manifest = parsePluginManifest(text)
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error
      for (const problem of error.problems) {
        const where = problem.field === 'plugin.json' ? 'plugin.json' : `plugin.json ${problem.field}`
        const line = `${where}: ${problem.message}`
        if (problem.field.startsWith('config')) schemaProblems.push(line)
        else manifestProblems.push(line)
      }
    }
  }
  let entry: string | null = null
  const main = manifest ? manifest.main : rawMain(text)
  try {
    entry = resolvePluginEntry(main === undefined ? {} : { main }, Object.keys(plugin.files))
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error
    for (const problem of error.problems)
      manifestProblems.push(`plugin.json ${problem.field}: ${problem.message}`)
  }
  section(
    report,
    'plugin.json',
    `ok: ${JSON.stringify(manifest?.name ?? '')}, entry ${entry ?? '?'}`,
    manifestProblems,
  )

  if (manifest) {
    const fields = manifest.config.filter((field) => field.key !== undefined)
    let configText = fields.length > 0 ? `ok: ${fields.map(describeField).join(', ')}` : 'ok: no fields'
    const given = options.config.length + options.configFiles.length + options.attachments.length > 0
    if (given) {
      const resolved = await resolveChainConfigs(
        [{ name: manifest.name, folder: folderName(path), manifest }],
        options,
        io.cwd,
      )
      if (resolved.ok) configText += '; the given config is valid'
      else schemaProblems.push(...resolved.problems.map((line) => line.replace(`[${manifest?.name}] `, '')))
    }
    section(report, 'config', configText, schemaProblems)
  } else if (schemaProblems.length > 0) {
    section(report, 'config', '', schemaProblems)
  }

  // The code: compiled, imports checked and evaluated in the real sandbox.
  if (entry === null) {
    section(report, 'code', 'not checked: no entry file')
    return report
  }
  const source: PluginSource = {
    pluginId: 1,
    name: manifest?.name ?? folderName(path),
    version: contentHash(plugin.files),
    files: plugin.files,
    entry,
  }
  const sandbox = createIsolatedVmSandbox()
  let loaded: LoadedPlugin | null = null
  try {
    loaded = await sandbox.load(source)
    section(report, 'code', 'ok: loads in the isolated-vm sandbox')
  } catch (error) {
    const problems =
      error instanceof ValidationError
        ? error.problems.map((problem) => `${problem.field}: ${problem.message}`)
        : [error instanceof Error ? error.message : String(error)]
    section(report, 'code', '', problems)
  } finally {
    await loaded?.dispose()
    await sandbox.close()
  }
  if (!loaded) return report

  const { functions, schedules, jobs, metrics } = loaded.capabilities
  const publicJobs = Object.keys(manifest?.publicJobs ?? {})
  section(report, 'functions', list(functions))
  section(report, 'schedules', list(schedules))
  section(report, 'jobs', list(jobs))
  section(report, 'metrics', list(Object.entries(metrics).map(([name, op]) => `${name} (${op})`)))
  section(report, 'publicJobs', list(publicJobs))

  const warnings: string[] = []
  if (functions.length === 0) {
    warnings.push(
      `${entry} exports none of the plugin functions (processEvent, onEvent, …): is it the right entry?`,
    )
  }
  for (const job of publicJobs) {
    if (!jobs.includes(job)) warnings.push(`publicJobs '${job}' has no matching export in jobs`)
  }
  for (const warning of warnings) report.lines.push(`  ${'warning'.padEnd(LABEL_WIDTH)}${warning}`)
  report.warnings = warnings.length
  return report
}

/** Runs `sluice validate`; resolves to the exit code (0 all valid, 1 problems found). */
export async function validateCommand(options: ValidateCommandOptions, io: CliIo): Promise<number> {
  let invalid = 0
  for (const [index, path] of options.plugins.entries()) {
    let report: Report
    try {
      const plugin = await readPluginFiles(path, { cwd: io.cwd })
      report = await validateOne(path, plugin, options, io)
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error
      const problems = pluginProblemLines(path, error).map((line) => line.slice(path.length + 2))
      report = { lines: [`Validating ${path}`], problems: 0, warnings: 0 }
      section(report, 'files', '', problems)
    }
    const warnings = report.warnings > 0 ? ` (${plural(report.warnings, 'warning')})` : ''
    report.lines.push(
      report.problems > 0 ? `invalid: ${plural(report.problems, 'problem')}` : `valid${warnings}`,
    )
    if (report.problems > 0) invalid += 1
    await writeTo(io.stdout, `${index > 0 ? '\n' : ''}${report.lines.join('\n')}\n`)
  }
  return invalid > 0 ? 1 : 0
}
