// The V8 flags `sluice serve` runs with, shared by the launcher and `pnpm bench` (whose benchmarks
// run the server in their own process, so they must run under the same flags to measure it).
import { totalmem } from 'node:os'

const HEAP_FLAG = /^--(max|min)[-_]semi[-_]space[-_]size\b/

/**
 * A young generation sized to the machine: semi-spaces of 1/128 of its memory (or of the
 * process's cgroup limit), a power of two from 16 to 128 MB (128 from 16 GB up), starting at half
 * that. Events stay alive across several scavenges while they wait for their batch (fetched, in
 * the plugins' isolates, in the sink), so a young generation of V8's default size (up to 64 MB
 * semi-spaces, from 1 MB) copies and promotes most of them; 128 MB semi-spaces cut the server's
 * CPU per event with 3 plugins by about 15% (docs/benchmarks.md).
 *
 * @param {number} [memoryBytes] the memory to size for; by default this machine's or cgroup's
 * @returns {string[]}
 */
export function serverNodeFlags(memoryBytes = machineMemory()) {
  const share = memoryBytes / 2 ** 20 / 128
  const semiSpaceMb = Math.min(128, Math.max(16, 2 ** Math.floor(Math.log2(Math.max(share, 1)))))
  return [`--max-semi-space-size=${semiSpaceMb}`, `--min-semi-space-size=${semiSpaceMb / 2}`]
}

/** Whether the operator sized the young generation already (command line or NODE_OPTIONS). */
export function sizedByOperator(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? '') {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((flag) => HEAP_FLAG.test(flag))
}

function machineMemory() {
  const limit = process.constrainedMemory?.() ?? 0
  const total = totalmem()
  return limit > 0 && limit < total ? limit : total
}
