import { defineProject } from 'vitest/config'
import { sluiceProject } from '../../tooling/vitest/project.ts'

const project = sluiceProject('queue-pubsub', { services: ['pubsub'] })

/**
 * The shared `module` condition makes Node load @opentelemetry/api's ESM build (a dependency of
 * @google-cloud/pubsub), whose extensionless imports do not resolve: drop it, so dependencies load
 * as Node loads them.
 */
const withoutModule = (conditions: string[] | undefined) => conditions?.filter((c) => c !== 'module')

export default defineProject(async (env) => {
  const config = await project(env)
  return {
    ...config,
    resolve: { ...config.resolve, conditions: withoutModule(config.resolve?.conditions) },
    ssr: {
      ...config.ssr,
      resolve: {
        ...config.ssr?.resolve,
        conditions: withoutModule(config.ssr?.resolve?.conditions),
        externalConditions: withoutModule(config.ssr?.resolve?.externalConditions),
      },
    },
  }
})
