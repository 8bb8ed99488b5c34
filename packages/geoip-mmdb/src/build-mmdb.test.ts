import { type City, GeoIpError } from '@sluice/core'
import { Reader } from 'mmdb-lib'
import { describe, expect, it } from 'vitest'
import { type BuildMmdbOptions, buildMmdb } from './build-mmdb.js'

/** mmdb-lib, the reader MaxMind's Node packages use: an independent check of the writer. */
function read(options: BuildMmdbOptions) {
  return new Reader(Buffer.from(buildMmdb(options)))
}

const ascii = (text: string) => [...text].map((char) => char.charCodeAt(0))
/** A UTF-8 string of fewer than 29 bytes: control byte `010sssss`, then the bytes. */
const shortString = (text: string) => [0x40 | text.length, ...ascii(text)]

const berlin: City = {
  city: { geoname_id: 2950159, names: { en: 'Berlin', de: 'Berlin', ja: 'ベルリン', ru: 'Берлин' } },
  continent: { code: 'EU', geoname_id: 6255148, names: { en: 'Europe' } },
  country: { geoname_id: 2921044, iso_code: 'DE', names: { en: 'Germany' } },
  location: { accuracy_radius: 20, latitude: 52.5244, longitude: 13.4105, time_zone: 'Europe/Berlin' },
  postal: { code: '10178' },
  subdivisions: [{ geoname_id: 2950157, iso_code: 'BE', names: { en: 'Land Berlin' } }],
}

describe('buildMmdb', () => {
  it('writes the bytes the MaxMind DB spec prescribes for a one-network IPv4 database', () => {
    const bytes = buildMmdb({
      networks: [{ network: '128.0.0.0/1', record: { a: 1 } }],
      ipVersion: 4,
      recordSize: 24,
      databaseType: 'T',
      description: { en: 'd' },
      buildEpoch: 1,
    })
    expect([...bytes]).toEqual([
      // Search tree, one node: left is empty (= node_count 1), right is the data at 1 + 16 + 0.
      ...[0x00, 0x00, 0x01, 0x00, 0x00, 0x11],
      ...new Array(16).fill(0),
      // Data section: map of 1, key "a", uint16 of one byte.
      ...[0xe1, ...shortString('a'), 0xa1, 0x01],
      ...[0xab, 0xcd, 0xef, ...ascii('MaxMind.com')],
      // Metadata: map of 9, with the integer types the spec gives each field.
      0xe9,
      ...[...shortString('binary_format_major_version'), 0xa1, 0x02],
      ...[...shortString('binary_format_minor_version'), 0xa0],
      // uint64 is extended type 9: control byte 000_00001 (size 1), then type byte 9 - 7.
      ...[...shortString('build_epoch'), 0x01, 0x02, 0x01],
      ...[...shortString('database_type'), ...shortString('T')],
      ...[...shortString('description'), 0xe1, ...shortString('en'), ...shortString('d')],
      ...[...shortString('ip_version'), 0xa1, 0x04],
      // array is extended type 11: control byte 000_00001 (1 item), then type byte 11 - 7.
      ...[...shortString('languages'), 0x01, 0x04, ...shortString('en')],
      ...[...shortString('node_count'), 0xc1, 0x01],
      ...[...shortString('record_size'), 0xa1, 0x18],
    ])
  })

  it('writes metadata mmdb-lib reads back', () => {
    const reader = read({
      networks: [{ network: '203.0.113.0/24', record: berlin }],
      databaseType: 'Sluice-Test-City',
      languages: ['en', 'de'],
      description: { en: 'Test', de: 'Prüfung' },
      buildEpoch: 1_700_000_000,
      recordSize: 24,
    })
    expect(reader.metadata).toMatchObject({
      binaryFormatMajorVersion: 2,
      binaryFormatMinorVersion: 0,
      buildEpoch: new Date(1_700_000_000_000),
      databaseType: 'Sluice-Test-City',
      description: { en: 'Test', de: 'Prüfung' },
      ipVersion: 6,
      languages: ['en', 'de'],
      recordSize: 24,
    })
  })

  it('defaults to an IPv6 database of 28-bit records typed Sluice-Test-City, built now', () => {
    const before = Math.floor(Date.now() / 1000)
    const { metadata } = read({ networks: [] })
    expect(metadata).toMatchObject({
      databaseType: 'Sluice-Test-City',
      description: { en: 'Sluice test database' },
      ipVersion: 6,
      languages: ['en'],
      recordSize: 28,
    })
    expect(metadata.buildEpoch.getTime()).toBeGreaterThanOrEqual(before * 1000)
  })

  it('writes City records that read back equal, unicode names and all', () => {
    expect(read({ networks: [{ network: '203.0.113.0/24', record: berlin }] }).get('203.0.113.7')).toEqual(
      berlin,
    )
  })

  it('writes every value type a record may hold', () => {
    const record = {
      string: 'a',
      empty: '',
      emoji: '🦆',
      zero: 0,
      uint16: 65_535,
      uint32: 4_294_967_295,
      negative: -2_147_483_648,
      fraction: -0.5,
      big: 2 ** 40,
      infinite: Number.POSITIVE_INFINITY,
      yes: true,
      no: false,
      list: [1, 'two', [3], { four: 4 }],
      none: [],
      nested: { deeper: { deepest: {} } },
    }
    expect(read({ networks: [{ network: '203.0.113.0/24', record }] }).get('203.0.113.1')).toEqual(record)
  })

  it('leaves undefined properties out', () => {
    const record = { country: { iso_code: 'DE', names: undefined }, postal: undefined }
    expect(read({ networks: [{ network: '203.0.113.0/24', record }] }).get('203.0.113.1')).toStrictEqual({
      country: { iso_code: 'DE' },
    })
  })

  it.each([0, 1, 28, 29, 284, 285, 65_820, 65_821, 70_000])(
    'writes a %i-byte string, map and array with the right size encoding',
    (size) => {
      const record = {
        string: 'x'.repeat(size),
        map: Object.fromEntries(Array.from({ length: Math.min(size, 300) }, (_, i) => [`k${i}`, i])),
        array: Array.from({ length: Math.min(size, 300) }, (_, i) => i),
      }
      expect(read({ networks: [{ network: '203.0.113.0/24', record }] }).get('203.0.113.1')).toEqual(record)
    },
  )

  it.each([24, 28, 32] as const)('writes %i-bit records', (recordSize) => {
    const reader = read({
      recordSize,
      networks: [
        { network: '203.0.113.0/24', record: { n: 1 } },
        { network: '2001:db8::/32', record: { n: 2 } },
      ],
    })
    expect(reader.metadata.recordSize).toBe(recordSize)
    expect(reader.get('203.0.113.200')).toEqual({ n: 1 })
    expect(reader.get('2001:db8:ffff::1')).toEqual({ n: 2 })
    expect(reader.get('203.0.114.0')).toBeNull()
  })

  it('writes IPv4-only databases', () => {
    const reader = read({ ipVersion: 4, networks: [{ network: '203.0.113.0/24', record: { n: 1 } }] })
    expect(reader.metadata.ipVersion).toBe(4)
    expect(reader.get('203.0.113.9')).toEqual({ n: 1 })
    expect(reader.get('203.0.112.255')).toBeNull()
  })

  it('puts IPv4 networks under ::/96 and aliases them at ::ffff:0:0/96, as MaxMind databases do', () => {
    const reader = read({ networks: [{ network: '203.0.113.0/24', record: { n: 1 } }] })
    expect(reader.get('::203.0.113.9')).toEqual({ n: 1 })
    expect(reader.get('::ffff:203.0.113.9')).toEqual({ n: 1 })
    expect(reader.get('::ffff:203.0.114.9')).toBeNull()
  })

  it('lets the more specific of nested networks win, whatever their order', () => {
    const networks = [
      { network: '10.1.2.0/24', record: { n: 'inner' } },
      { network: '10.0.0.0/8', record: { n: 'outer' } },
      { network: '10.1.2.128/32', record: { n: 'host' } },
      { network: '::/0', record: { n: 'anywhere' } },
    ]
    for (const order of [networks, [...networks].reverse()]) {
      const reader = read({ networks: order })
      expect(reader.get('10.1.2.127')).toEqual({ n: 'inner' })
      expect(reader.get('10.1.2.128')).toEqual({ n: 'host' })
      expect(reader.get('10.1.2.129')).toEqual({ n: 'inner' })
      expect(reader.get('10.1.3.0')).toEqual({ n: 'outer' })
      expect(reader.get('10.255.255.255')).toEqual({ n: 'outer' })
      expect(reader.get('11.0.0.0')).toEqual({ n: 'anywhere' })
      expect(reader.get('2001:db8::1')).toEqual({ n: 'anywhere' })
    }
  })

  it('keeps adjacent networks apart at their boundary', () => {
    const reader = read({
      networks: [
        { network: '192.0.2.0/25', record: { n: 'low' } },
        { network: '192.0.2.128/25', record: { n: 'high' } },
        { network: '2001:db8::/48', record: { n: 'v6 low' } },
        { network: '2001:db8:1::/48', record: { n: 'v6 high' } },
      ],
    })
    expect(reader.get('192.0.1.255')).toBeNull()
    expect(reader.get('192.0.2.0')).toEqual({ n: 'low' })
    expect(reader.get('192.0.2.127')).toEqual({ n: 'low' })
    expect(reader.get('192.0.2.128')).toEqual({ n: 'high' })
    expect(reader.get('192.0.2.255')).toEqual({ n: 'high' })
    expect(reader.get('192.0.3.0')).toBeNull()
    expect(reader.get('2001:db8:0:ffff:ffff:ffff:ffff:ffff')).toEqual({ n: 'v6 low' })
    expect(reader.get('2001:db8:1::')).toEqual({ n: 'v6 high' })
    expect(reader.get('2001:db8:2::')).toBeNull()
  })

  it('takes a bare address as a single host', () => {
    const reader = read({
      networks: [
        { network: '192.0.2.1', record: { n: 1 } },
        { network: '2001:db8::1', record: { n: 2 } },
      ],
    })
    expect(reader.getWithPrefixLength('192.0.2.1')).toEqual([{ n: 1 }, 32])
    expect(reader.get('192.0.2.0')).toBeNull()
    expect(reader.getWithPrefixLength('2001:db8::1')).toEqual([{ n: 2 }, 128])
  })

  it('stores records that are equal byte for byte once', () => {
    const occurrences = (bytes: Uint8Array, text: string) =>
      Buffer.from(bytes).toString().split(text).length - 1
    const networks = (record: (i: number) => City) =>
      Array.from({ length: 50 }, (_, i) => ({ network: `10.0.${i}.0/24`, record: record(i) }))
    expect(occurrences(buildMmdb({ networks: networks(() => berlin) }), 'ベルリン')).toBe(1)
    expect(occurrences(buildMmdb({ networks: networks((i) => ({ ...berlin, i })) }), 'ベルリン')).toBe(50)
  })

  it('reaches records past 16 MiB into the data section with 28-bit records', () => {
    const reader = read({
      ipVersion: 4,
      networks: [
        { network: '128.0.0.0/1', record: { filler: 'x'.repeat(2 ** 24) } },
        { network: '0.0.0.0/2', record: { n: 'left' } },
        { network: '64.0.0.0/2', record: { n: 'right' } },
      ],
    })
    expect(reader.get('1.0.0.0')).toEqual({ n: 'left' })
    expect(reader.get('65.0.0.0')).toEqual({ n: 'right' })
  })

  it('says to raise recordSize when the data outgrows 24-bit records', () => {
    expect(() =>
      buildMmdb({
        recordSize: 24,
        networks: [
          { network: '128.0.0.0/1', record: { filler: 'x'.repeat(2 ** 24) } },
          { network: '0.0.0.0/1', record: { n: 1 } },
        ],
      }),
    ).toThrow(/do not fit 24-bit records — pass a larger recordSize/)
  })

  it.each([
    ['not-an-ip/8', /'not-an-ip\/8' is not a network in CIDR notation/],
    ['10.0.0.0/8/8', /is not a network in CIDR notation/],
    ['fe80::%eth0/64', /is not a network in CIDR notation/],
    ['10.0.0.0/33', /'10.0.0.0\/33' has an invalid prefix length; it must be 0 to 32/],
    ['2001:db8::/129', /it must be 0 to 128/],
    ['10.0.0.0/', /has an invalid prefix length/],
    ['10.0.0.0/+8', /has an invalid prefix length/],
    ['10.0.0.1/8', /'10.0.0.1\/8' has address bits set past \/8/],
    ['::ffff:10.0.0.0/104', /is IPv4-mapped; write it as an IPv4 network instead/],
  ])('rejects the network %s', (network, message) => {
    const build = () => buildMmdb({ networks: [{ network, record: {} }] })
    expect(build).toThrow(GeoIpError)
    expect(build).toThrow(message)
  })

  it('rejects IPv6 networks in an IPv4-only database', () => {
    expect(() => buildMmdb({ ipVersion: 4, networks: [{ network: '2001:db8::/32', record: {} }] })).toThrow(
      "'2001:db8::/32' is an IPv6 network, but the database is IPv4-only (ipVersion: 4)",
    )
  })

  it('rejects a network listed twice, however it is spelled', () => {
    expect(() =>
      buildMmdb({
        networks: [
          { network: '10.0.0.0/8', record: {} },
          { network: '::10.0.0.0/104', record: {} },
        ],
      }),
    ).toThrow("'::10.0.0.0/104' is listed twice (also as '10.0.0.0/8')")
  })

  it.each([
    [{ a: null }, 'record.a is Null'],
    [{ a: { b: [1, new Date(0)] } }, 'record.a.b[1] is Date'],
    [{ a: 1n }, 'record.a is bigint'],
  ])('names the path of a value a MaxMind DB cannot hold (%o)', (record, path) => {
    const build = () => buildMmdb({ networks: [{ network: '10.0.0.0/8', record: record as City }] })
    expect(build).toThrow(GeoIpError)
    expect(build).toThrow(`cannot write the record of '10.0.0.0/8': ${path}`)
  })

  it('rejects a record that is not an object', () => {
    expect(() =>
      buildMmdb({ networks: [{ network: '10.0.0.0/8', record: 'Berlin' as unknown as City }] }),
    ).toThrow("the record of '10.0.0.0/8' must be an object")
  })

  it('rejects an ipVersion or recordSize the format does not have', () => {
    expect(() => buildMmdb({ networks: [], ipVersion: 5 as 6 })).toThrow('ipVersion must be 4 or 6, not 5')
    expect(() => buildMmdb({ networks: [], recordSize: 16 as 24 })).toThrow(
      'recordSize must be 24, 28 or 32, not 16',
    )
  })

  it('rejects a build epoch that is not whole seconds', () => {
    expect(() => buildMmdb({ networks: [], buildEpoch: 1.5 })).toThrow(
      'buildEpoch must be a whole number of seconds since 1970, not 1.5',
    )
  })
})
