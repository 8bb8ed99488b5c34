import { fileURLToPath } from 'node:url'
import { PostHog } from 'posthog-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './support.js'

describe('the server on the embedded default', () => {
  let test: TestServer
  beforeAll(async () => {
    test = await startTestServer()
  }, 60_000)
  afterAll(async () => {
    await test?.stop()
  })

  it('takes events from the real posthog-node SDK and writes them to the sink', async () => {
    const client = new PostHog('phc_embedded_test', { host: test.server.url, flushAt: 10, flushInterval: 0 })
    for (let index = 0; index < 25; index += 1) {
      client.capture({ distinctId: `user-${index % 3}`, event: 'page viewed', properties: { index } })
    }
    client.identify({ distinctId: 'user-1', properties: { email: 'one@example.com' } })
    await client.shutdown()
    const events = await test.waitForEvents(26)
    const captured = events.filter((event) => event.event === 'page viewed')
    expect(
      captured.map((event) => (event.properties as { index: number }).index).sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 25 }, (_, index) => index))
    for (const event of captured) {
      expect(event).toMatchObject({ team_id: 1, distinct_id: expect.stringMatching(/^user-[012]$/) })
      expect(event.uuid).toMatch(/^[0-9a-f-]{36}$/)
    }
    expect(new Set(events.map((event) => event.uuid)).size).toBe(events.length)
    expect(events.find((event) => event.event === '$identify')).toMatchObject({ distinct_id: 'user-1' })
  })

  it('keeps one user’s events in order', async () => {
    const before = (await test.events()).length
    const client = new PostHog('phc_embedded_test', { host: test.server.url, flushAt: 7, flushInterval: 0 })
    for (let index = 0; index < 40; index += 1)
      client.capture({ distinctId: 'ordered', event: 'step', properties: { index } })
    await client.shutdown()
    const events = (await test.waitForEvents(before + 40)).filter((event) => event.distinct_id === 'ordered')
    expect(events.map((event) => (event.properties as { index: number }).index)).toEqual(
      Array.from({ length: 40 }, (_, index) => index),
    )
  })

  it('runs a plugin installed through the admin API, and shows its health and counters', async () => {
    const examples = fileURLToPath(new URL('../../../examples/plugins/', import.meta.url))
    const plugin = await test.admin('POST', '/api/plugins', { path: `${examples}strip-pii` })
    expect(plugin.status).toBe(201)
    const config = await test.admin('POST', '/api/configs', {
      pluginId: plugin.body.id,
      teamId: 1,
      enabled: true,
      config: { propertiesToRemove: 'email', eventsToDrop: 'noise' },
    })
    expect(config.status).toBe(201)
    const deadline = Date.now() + 10_000
    while (test.server.runtime.configs.get(config.body.id)?.status !== 'ready') {
      if (Date.now() > deadline) throw new Error('the config did not load within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const before = (await test.events()).length
    const client = new PostHog('phc_embedded_test', { host: test.server.url, flushAt: 3, flushInterval: 0 })
    client.capture({ distinctId: 'p', event: 'noise' })
    client.capture({
      distinctId: 'p',
      event: 'signed up',
      properties: { email: 'p@example.com', plan: 'pro' },
    })
    client.capture({ distinctId: 'p', event: 'last' })
    await client.shutdown()
    const events = (await test.waitForEvents(before + 2)).slice(before)
    expect(events.map((event) => event.event)).toEqual(['signed up', 'last'])
    expect(events[0]?.properties).toMatchObject({
      plan: 'pro',
      $plugins_succeeded: [`Strip PII (${config.body.id})`],
    })
    expect(events[0]?.properties).not.toHaveProperty('email')

    const health = await test.admin('GET', `/api/configs/${config.body.id}/health`)
    expect(health.body.health).toMatchObject({ configId: config.body.id, status: 'healthy' })
    const metrics = await (await fetch(`${test.server.url}/metrics`)).text()
    const labels = `config_id="${config.body.id}",plugin="Strip PII",team_id="1"`
    expect(metrics).toContain(`sluice_plugin_events_dropped_total{${labels}} 1`)
    // Every processEvent call (three events) is timed: counted in the +Inf bucket and the count.
    expect(metrics).toContain(
      `sluice_plugin_call_duration_seconds_bucket{${labels},function="processEvent",le="+Inf"} 3`,
    )
    expect(metrics).toContain(
      `sluice_plugin_call_duration_seconds_count{${labels},function="processEvent"} 3`,
    )
    const pluginLabels = `plugin="Strip PII",plugin_id="${plugin.body.id}",version="${plugin.body.version}"`
    expect(metrics).toContain(`sluice_plugin_isolates{${pluginLabels}} 1`)
    expect(metrics).toContain(`sluice_plugin_isolate_heap_limit_bytes{${pluginLabels}} ${128 * 1024 * 1024}`)
    const heapUsed = new RegExp(`^sluice_plugin_isolate_heap_used_bytes\\{${pluginLabels}\\} (\\d+)$`, 'm')
    expect(Number(heapUsed.exec(metrics)?.[1])).toBeGreaterThan(100_000)
  })

  it('refuses the admin API without the token, saying where the token comes from', async () => {
    const response = await fetch(`${test.server.url}/api/plugins`)
    expect(response.status).toBe(401)
    expect(((await response.json()) as { error: string }).error).toContain('SLUICE_ADMIN_TOKEN')
  })

  it('answers the ops endpoints', async () => {
    expect((await fetch(`${test.server.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${test.server.url}/readyz`)).status).toBe(200)
    const metrics = await (await fetch(`${test.server.url}/metrics`)).text()
    expect(metrics).toMatch(/^sluice_capture_events_total (\d+)$/m)
    expect(Number(/^sluice_capture_events_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(66)
    // Nothing is being processed now.
    expect(metrics).toMatch(/^sluice_queue_lag_seconds 0$/m)
  })
})
