import { createMmdbGeoIp } from '@sluice/geoip-mmdb'
import { createPluginTester, type PluginTester } from '@sluice/testkit'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeTestDatabase } from './test-database.js'

const folder = new URL('..', import.meta.url)
let databasePath: string
let plugin: PluginTester | undefined

beforeAll(async () => {
  databasePath = await writeTestDatabase()
})
afterEach(async () => {
  await plugin?.close()
  plugin = undefined
})

const load = async (config: Record<string, unknown> = {}) => {
  plugin = await createPluginTester({
    path: folder,
    config,
    geoip: await createMmdbGeoIp({ path: databasePath }),
  })
  return plugin
}

const LONDON = {
  $geoip_city_name: 'London',
  $geoip_country_name: 'United Kingdom',
  $geoip_country_code: 'GB',
  $geoip_continent_name: 'Europe',
  $geoip_continent_code: 'EU',
  $geoip_subdivision_1_name: 'England',
  $geoip_subdivision_1_code: 'ENG',
  $geoip_postal_code: 'EC2V',
  $geoip_latitude: 51.5142,
  $geoip_longitude: -0.0931,
  $geoip_time_zone: 'Europe/London',
  $geoip_accuracy_radius: 10,
}

describe('geoip-enrich', () => {
  it('adds the location of the event IP, and sets it on the person', async () => {
    const plugin = await load()
    const event = await plugin.processEvent({ event: '$pageview', distinct_id: 'ada', ip: '81.2.69.160' })
    expect(event?.properties).toMatchObject(LONDON)
    expect(event?.$set).toEqual(LONDON)
    expect(event?.$set_once).toMatchObject({
      $initial_geoip_city_name: 'London',
      $initial_geoip_country_code: 'GB',
    })
  })

  it('prefers properties.$ip, resolves IPv6, and keeps only the fields the database has', async () => {
    const plugin = await load({ setOnPerson: 'no' })
    const event = await plugin.processEvent({
      event: '$pageview',
      distinct_id: 'ada',
      ip: '81.2.69.160',
      properties: { $ip: '2001:db8:1::42' },
    })
    expect(event?.properties).toEqual({
      $ip: '2001:db8:1::42',
      $geoip_city_name: 'São Paulo',
      $geoip_country_name: 'Brazil',
      $geoip_country_code: 'BR',
      $geoip_continent_name: 'South America',
      $geoip_continent_code: 'SA',
      $geoip_latitude: -23.5505,
      $geoip_longitude: -46.6333,
      $geoip_time_zone: 'America/Sao_Paulo',
    })
    expect(event?.$set).toBeUndefined()
  })

  it('leaves events alone for unknown IPs, skipped IPs, opted-out events and invalid IPs', async () => {
    const plugin = await load({ skipIps: '10.0.0.1, 203.0.113.9' })
    const unchanged = [
      { event: 'a', distinct_id: 'u', ip: '192.0.2.1' },
      { event: 'b', distinct_id: 'u', ip: '203.0.113.9' },
      { event: 'c', distinct_id: 'u', ip: '81.2.69.1', properties: { $geoip_disable: true } },
      { event: 'd', distinct_id: 'u', ip: 'not-an-ip' },
    ]
    for (const input of unchanged) {
      const event = await plugin.processEvent(input)
      expect(event?.properties?.$geoip_country_code).toBeUndefined()
    }
    expect(plugin.logs.some((entry) => entry.message.includes('not enriching event'))).toBe(true)
    const other = await plugin.processEvent({ event: 'e', distinct_id: 'u', ip: '203.0.113.10' })
    expect(other?.properties?.$geoip_country_code).toBe('AU')
  })
})
