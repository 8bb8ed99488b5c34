// The tests' GeoIP database: a few networks written with @sluice/geoip-mmdb's writer, so nothing is
// downloaded and the expected values are known.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildMmdb, type MmdbNetwork } from '@sluice/geoip-mmdb'

export const NETWORKS: MmdbNetwork[] = [
  {
    network: '81.2.69.0/24',
    record: {
      city: { geoname_id: 2643743, names: { en: 'London', de: 'London' } },
      continent: { code: 'EU', geoname_id: 6255148, names: { en: 'Europe' } },
      country: { geoname_id: 2635167, iso_code: 'GB', names: { en: 'United Kingdom' } },
      location: { accuracy_radius: 10, latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' },
      postal: { code: 'EC2V' },
      subdivisions: [{ geoname_id: 6269131, iso_code: 'ENG', names: { en: 'England' } }],
    },
  },
  {
    network: '2001:db8:1::/48',
    record: {
      city: { names: { en: 'São Paulo' } },
      continent: { code: 'SA', names: { en: 'South America' } },
      country: { iso_code: 'BR', names: { en: 'Brazil' } },
      location: { latitude: -23.5505, longitude: -46.6333, time_zone: 'America/Sao_Paulo' },
    },
  },
  {
    network: '203.0.113.0/24',
    record: { country: { iso_code: 'AU', names: { en: 'Australia' } } },
  },
]

/** Writes the test database to a fresh temporary folder and returns its path. */
export async function writeTestDatabase(): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'geoip-enrich-')), 'test-city.mmdb')
  await writeFile(path, buildMmdb({ networks: NETWORKS, databaseType: 'Sluice-Example-City' }))
  return path
}
