/** The V8 flags `sluice serve` runs with: a young generation sized to `memoryBytes` (this machine's by default). */
export function serverNodeFlags(memoryBytes?: number): string[]
/** Whether the operator sized the young generation already (command line or NODE_OPTIONS). */
export function sizedByOperator(execArgv?: readonly string[], nodeOptions?: string): boolean
