export { createAdminRoutes } from './admin-api.js'
export type { AdminApiOptions, ConfigHealthControl, DeadLetterReplayOutcome } from './context.js'
