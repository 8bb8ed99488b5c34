import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

const services = join(import.meta.dirname, '..', 'services')

function run(script: string, args: readonly string[], env: Record<string, string> = {}) {
  const result = spawnSync('bash', [join(services, script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** The default port a service script uses, read from its `${SLUICE_<NAME>_PORT:-<port>}`. */
function defaultPort(script: string): number {
  const match = /\$\{SLUICE_[A-Z]+_PORT:-(\d+)\}/.exec(readFileSync(join(services, script), 'utf8'))
  if (!match?.[1]) throw new Error(`${script} declares no SLUICE_*_PORT default`)
  return Number(match[1])
}

describe('tooling/services', () => {
  it('services.sh explains its usage and exits 2 without a command', () => {
    const result = run('services.sh', [])
    expect(result.status).toBe(2)
    expect(result.output).toMatch(/usage: services\.sh start\|check\|stop\|restart/)
  })

  it('services.sh names an unknown service and the known ones', () => {
    const result = run('services.sh', ['check', 'mysql'])
    expect(result.status).toBe(2)
    expect(result.output).toContain('unknown service "mysql"; known: redis postgres kafka pubsub')
  })

  it('a check of a service that is not running fails and says how to start it', () => {
    const result = run('redis.sh', ['check'], { SLUICE_REDIS_PORT: '6' })
    expect(result.status).toBe(1)
    expect(result.output).toContain('redis:6: not running (start it with tooling/services/redis.sh start)')
  })

  it('a service script rejects an unknown command', () => {
    const result = run('pubsub.sh', ['launch'])
    expect(result.status).toBe(2)
    expect(result.output).toContain('usage: pubsub.sh start|check|stop|restart')
  })

  it('docker-compose.yml publishes every service on the port its script uses, on loopback only', () => {
    const compose = parse(readFileSync(join(services, '..', '..', 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { ports: string[] }>
    }
    for (const name of ['redis', 'postgres', 'kafka', 'pubsub']) {
      const port = defaultPort(`${name}.sh`)
      expect(compose.services[name]?.ports, name).toEqual([`127.0.0.1:${port}:${port}`])
    }
  })
})
