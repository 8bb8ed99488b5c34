import { createHash } from 'node:crypto'
import { createPluginTester, type PluginTester } from '@sluice/testkit'
import { afterEach, describe, expect, it } from 'vitest'

const folder = new URL('..', import.meta.url)
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

let plugin: PluginTester | undefined
afterEach(async () => {
  await plugin?.close()
  plugin = undefined
})

const load = async (config: Record<string, unknown> = {}) => {
  plugin = await createPluginTester({ path: folder, config })
  return plugin
}

describe('strip-pii', () => {
  it('removes the default personal properties, wherever the person data is', async () => {
    const plugin = await load()
    const event = await plugin.processEvent({
      event: 'signed up',
      properties: {
        email: 'ada@example.com',
        plan: 'pro',
        $set: { name: 'Ada', company: 'Engines Ltd' },
        $set_once: { phone: '+44 20 7946 0000', first_seen: '2026-01-01' },
      },
      $set: { email: 'ada@example.com', city: 'London' },
    })
    expect(event?.properties).toEqual({
      plan: 'pro',
      $set: { company: 'Engines Ltd' },
      $set_once: { first_seen: '2026-01-01' },
    })
    expect(event?.$set).toEqual({ city: 'London' })
  })

  it('removes only the configured properties', async () => {
    const plugin = await load({ propertiesToRemove: ' plan , ,token' })
    const event = await plugin.processEvent({
      event: 'x',
      properties: { email: 'a@b.c', plan: 'pro', token: 't' },
    })
    expect(event?.properties).toEqual({ email: 'a@b.c' })
  })

  it('hashes instead of removing with strategy "hash"', async () => {
    const plugin = await load({ strategy: 'hash' })
    const event = await plugin.processEvent({
      event: 'x',
      properties: { email: 'ada@example.com', phone: null, plan: 'pro' },
    })
    expect(event?.properties).toEqual({ email: sha256('ada@example.com'), plan: 'pro' })
  })

  it('treats the event IP like a property when $ip is listed', async () => {
    const removing = await load({ propertiesToRemove: 'email,$ip' })
    const removed = await removing.processEvent({
      event: 'x',
      ip: '203.0.113.7',
      properties: { $ip: '203.0.113.7' },
    })
    expect(removed).toMatchObject({ ip: null, properties: {} })
    await removing.close()

    const hashing = await load({ propertiesToRemove: '$ip', strategy: 'hash' })
    const hashed = await hashing.processEvent({ event: 'x', ip: '203.0.113.7' })
    expect(hashed?.ip).toBe(sha256('203.0.113.7'))
  })

  it('drops the events named in eventsToDrop and keeps the rest', async () => {
    const plugin = await load({ eventsToDrop: '$pageleave, debug ping' })
    const results = await plugin.processEvents([
      { event: '$pageview' },
      { event: '$pageleave' },
      { event: 'debug ping' },
    ])
    expect(results.map((event) => event?.event ?? null)).toEqual(['$pageview', null, null])
  })

  it('leaves everything else about the event as it was', async () => {
    const plugin = await load()
    const input = plugin.event({ event: 'x', distinct_id: 'u1', properties: { plan: 'pro' } })
    expect(await plugin.processEvent(input)).toEqual(input)
  })

  it('refuses a strategy that is not one of its choices', async () => {
    await expect(load({ strategy: 'encrypt' })).rejects.toThrow(
      "config of plugin 'Strip PII' is invalid: strategy:",
    )
  })
})
