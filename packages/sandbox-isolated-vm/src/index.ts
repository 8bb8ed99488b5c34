export { ALLOWED_MODULES } from './compile.js'
export {
  createIsolatedVmSandbox,
  type IsolatedVmSandboxOptions,
  isolatedVmSandboxCapabilities,
} from './sandbox.js'
