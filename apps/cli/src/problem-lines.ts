import type { ValidationError } from '@sluice/core'

/**
 * Terminal lines for a plugin that could not be read or interpreted: `<path>: <where>: <message>`,
 * where plugin.json problems name the field inside plugin.json.
 */
export function pluginProblemLines(path: string, error: ValidationError): string[] {
  return error.problems.map((problem) => {
    if (problem.field === path) return `${path}: ${problem.message}`
    const where =
      error.component === 'manifest' && problem.field !== 'plugin.json'
        ? `plugin.json ${problem.field}`
        : problem.field
    return `${path}: ${where}: ${problem.message}`
  })
}
