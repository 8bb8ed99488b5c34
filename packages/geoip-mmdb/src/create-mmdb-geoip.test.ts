import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type City, GeoIpError } from '@sluice/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMmdb, type MmdbNetwork } from './build-mmdb.js'
import { createMmdbGeoIp } from './create-mmdb-geoip.js'

const berlin: City = {
  city: { geoname_id: 2950159, names: { en: 'Berlin', de: 'Berlin', ja: 'ベルリン', ru: 'Берлин' } },
  continent: { code: 'EU', geoname_id: 6255148, names: { en: 'Europe', de: 'Europa' } },
  country: { geoname_id: 2921044, iso_code: 'DE', names: { en: 'Germany', de: 'Deutschland' } },
  location: { accuracy_radius: 20, latitude: 52.5244, longitude: 13.4105, time_zone: 'Europe/Berlin' },
  postal: { code: '10178' },
  subdivisions: [{ geoname_id: 2950157, iso_code: 'BE', names: { en: 'Land Berlin' } }],
}
const kreuzberg: City = {
  ...berlin,
  postal: { code: '10999' },
  location: { ...berlin.location, latitude: 52.5 },
}
const zurich: City = {
  city: { geoname_id: 2657896, names: { en: 'Zurich', de: 'Zürich', 'zh-CN': '苏黎世' } },
  continent: { code: 'EU', names: { en: 'Europe' } },
  country: { iso_code: 'CH', names: { en: 'Switzerland', fr: 'Suisse' } },
  location: { accuracy_radius: 5, latitude: 47.3667, longitude: 8.55, time_zone: 'Europe/Zurich' },
}
const sydney: City = {
  city: { names: { en: 'Sydney' } },
  continent: { code: 'OC', names: { en: 'Oceania' } },
  country: { iso_code: 'AU', names: { en: 'Australia' } },
  location: { latitude: -33.8688, longitude: 151.2093, time_zone: 'Australia/Sydney', accuracy_radius: 1000 },
  subdivisions: [{ iso_code: 'NSW', names: { en: 'New South Wales' } }],
}

const networks: MmdbNetwork[] = [
  { network: '198.51.100.0/24', record: berlin },
  { network: '198.51.100.128/26', record: kreuzberg },
  { network: '198.51.101.0/24', record: zurich },
  { network: '2001:db8::/32', record: sydney },
  { network: '2001:db8:ab::/48', record: zurich },
]

let directory: string
let path: string

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'sluice-geoip-'))
  path = join(directory, 'test-city.mmdb')
  await writeFile(path, buildMmdb({ networks }))
})

afterAll(async () => {
  await rm(directory, { recursive: true, force: true })
})

/** Expects `promise` to reject with a non-retryable GeoIpError of `code` whose message matches. */
async function expectGeoIpError(promise: Promise<unknown>, code: string, message: string | RegExp) {
  const error = await promise.then(
    () => expect.unreachable('expected a rejection'),
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(GeoIpError)
  expect(error).toMatchObject({ code, retryable: false })
  expect((error as Error).message).toMatch(message)
}

describe('createMmdbGeoIp over a database file', () => {
  it.each([
    ['198.51.100.1', berlin],
    ['198.51.100.127', berlin],
    ['198.51.100.128', kreuzberg],
    ['198.51.100.191', kreuzberg],
    ['198.51.100.192', berlin],
    ['198.51.101.0', zurich],
    ['198.51.101.255', zurich],
    ['2001:db8::1', sydney],
    ['2001:DB8:FFFF:FFFF::', sydney],
    ['2001:db8:ab:1234::5', zurich],
    ['2001:db8:ac::', sydney],
  ])('locates %s', async (ip, city) => {
    const geoip = await createMmdbGeoIp({ path })
    await expect(geoip.locate(ip)).resolves.toStrictEqual(city)
  })

  it.each(['198.51.99.255', '198.51.102.0', '0.0.0.0', '255.255.255.255', '2001:db9::', '::1', '::'])(
    'returns null for %s, which the database does not hold',
    async (ip) => {
      const geoip = await createMmdbGeoIp({ path })
      await expect(geoip.locate(ip)).resolves.toBeNull()
    },
  )

  it('locates IPv4-mapped IPv6 addresses as their IPv4 address', async () => {
    const geoip = await createMmdbGeoIp({ path })
    await expect(geoip.locate('::ffff:198.51.100.130')).resolves.toStrictEqual(kreuzberg)
    await expect(geoip.locate('::ffff:c633:6482')).resolves.toStrictEqual(kreuzberg)
    await expect(geoip.locate('::ffff:198.51.102.0')).resolves.toBeNull()
  })

  it('ignores an IPv6 zone index', async () => {
    const geoip = await createMmdbGeoIp({ path })
    await expect(geoip.locate('2001:db8::1%eth0')).resolves.toStrictEqual(sydney)
  })

  it('hands out a fresh plain object on every lookup, so callers may mutate it', async () => {
    const geoip = await createMmdbGeoIp({ path })
    const first = (await geoip.locate('198.51.100.1')) as City
    expect(Object.getPrototypeOf(first)).toBe(Object.prototype)
    ;(first.city?.names as Record<string, string>).en = 'Changed'
    first.country = undefined
    const second = await geoip.locate('198.51.100.1')
    expect(second).not.toBe(first)
    expect(second).toStrictEqual(berlin)
  })
})

describe('createMmdbGeoIp over database bytes', () => {
  it('locates addresses in bytes from buildMmdb', async () => {
    const geoip = await createMmdbGeoIp({ database: buildMmdb({ networks }) })
    await expect(geoip.locate('198.51.101.7')).resolves.toStrictEqual(zurich)
  })

  it('copies the bytes, so the caller may reuse the array', async () => {
    const database = buildMmdb({ networks })
    const geoip = await createMmdbGeoIp({ database })
    database.fill(0)
    await expect(geoip.locate('198.51.101.7')).resolves.toStrictEqual(zurich)
  })

  it('locates IPv4 in an IPv4-only database and returns null for IPv6 there', async () => {
    const geoip = await createMmdbGeoIp({
      database: buildMmdb({
        ipVersion: 4,
        recordSize: 24,
        networks: [{ network: '32.0.0.0/8', record: berlin }],
      }),
    })
    await expect(geoip.locate('32.1.13.184')).resolves.toStrictEqual(berlin)
    await expect(geoip.locate('::ffff:32.1.13.184')).resolves.toStrictEqual(berlin)
    // Regression: mmdb-lib walks an IPv4 tree with the first 32 bits of 2001:db8:: (32.1.13.184).
    await expect(geoip.locate('2001:db8::')).resolves.toBeNull()
  })
})

describe('createMmdbGeoIp errors', () => {
  it.each([
    ['not an ip', '"not an ip" is not an IPv4 or IPv6 address'],
    ['', '"" is not an IPv4 or IPv6 address'],
    ['198.51.100.256', '"198.51.100.256" is not an IPv4 or IPv6 address'],
    ['2001:db8::1::2', '"2001:db8::1::2" is not an IPv4 or IPv6 address'],
    [` ${'9'.repeat(100)}`, /^\[sluice:geoip\] " 9{55}… is not an IPv4 or IPv6 address$/],
  ])('rejects %j with a GeoIpError that is not retryable', async (ip, message) => {
    const geoip = await createMmdbGeoIp({ path })
    await expectGeoIpError(geoip.locate(ip), 'geoip.invalid-ip', message)
  })

  it('rejects input that is not a string, as plugins may pass anything', async () => {
    const geoip = await createMmdbGeoIp({ path })
    await expectGeoIpError(geoip.locate(42 as unknown as string), 'geoip.invalid-ip', '42 is not an IPv4')
  })

  it('names a missing file and says what to do', async () => {
    const missing = join(directory, 'missing.mmdb')
    await expectGeoIpError(
      createMmdbGeoIp({ path: missing }),
      'geoip.database-unreadable',
      `cannot read the MaxMind database ${missing}: no such file — check the path; it should name a GeoIP2 or GeoLite2 City .mmdb file`,
    )
  })

  it('names a directory given as the file', async () => {
    await expectGeoIpError(
      createMmdbGeoIp({ path: directory }),
      'geoip.database-unreadable',
      `cannot read the MaxMind database ${directory}: it is a directory`,
    )
  })

  it.each([
    ['text', Buffer.from('GeoLite2-City, but as a CSV export\n1.0.0.0/24,Sydney\n')],
    ['an empty file', new Uint8Array(0)],
    ['a download cut short', buildMmdb({ networks }).subarray(0, 200)],
  ])('says a file of %s is not a MaxMind DB', async (_, contents) => {
    const corrupt = join(directory, 'corrupt.mmdb')
    await writeFile(corrupt, contents)
    await expectGeoIpError(
      createMmdbGeoIp({ path: corrupt }),
      'geoip.database-invalid',
      `MaxMind database ${corrupt} is not a usable MaxMind DB file (no metadata section found) — use a GeoIP2 or GeoLite2 City .mmdb`,
    )
  })

  it('says a file whose metadata promises a larger search tree is not usable', async () => {
    const whole = Buffer.from(buildMmdb({ networks }))
    const metadata = whole.subarray(whole.lastIndexOf('MaxMind.com') - 3)
    await expectGeoIpError(
      createMmdbGeoIp({ database: Buffer.concat([Buffer.alloc(16), metadata]) }),
      'geoip.database-invalid',
      'the MaxMind database given as bytes is not a usable MaxMind DB file (its search tree runs past the end of the file)',
    )
  })

  it('rejects a lookup that runs into a damaged data section as corrupt', async () => {
    const database = buildMmdb({
      ipVersion: 4,
      recordSize: 24,
      networks: [{ network: '0.0.0.0/1', record: berlin }],
    })
    // One node (6 bytes) and the 16-byte separator, then the record: make its first byte an invalid type.
    database.set([0x00, 0x00], 6 + 16)
    const geoip = await createMmdbGeoIp({ database })
    await expectGeoIpError(
      geoip.locate('1.2.3.4'),
      'geoip.database-corrupt',
      /the MaxMind database given as bytes is corrupt: looking up "1.2.3.4" failed \(.+\) — replace it with a fresh copy/,
    )
  })

  it('asks for a path or bytes when given neither', async () => {
    await expectGeoIpError(
      createMmdbGeoIp({} as { path: string }),
      'geoip.not-configured',
      'no MaxMind database given — pass { path } to a .mmdb file or { database } bytes',
    )
  })
})
