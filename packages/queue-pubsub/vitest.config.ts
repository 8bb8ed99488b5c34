import { sluiceProject } from '../../tooling/vitest/project.ts'

const project = sluiceProject('queue-pubsub', { services: ['pubsub'] })

/**
 * The shared `module` condition makes Node load @opentelemetry/api's ESM build (a dependency of
 * @google-cloud/pubsub), whose extensionless imports do not resolve: drop it, so dependencies load
 * the way Node loads them.
 */
const withoutModule = (conditions: string[] | undefined) => conditions?.filter((c) => c !== 'module')

const config: typeof project = async (env) => {
  const base = await project(env)
  return {
    ...base,
    resolve: { ...base.resolve, conditions: withoutModule(base.resolve?.conditions) },
    ssr: {
      ...base.ssr,
      resolve: {
        ...base.ssr?.resolve,
        conditions: withoutModule(base.ssr?.resolve?.conditions),
        externalConditions: withoutModule(base.ssr?.resolve?.externalConditions),
      },
    },
  }
}

export default config
