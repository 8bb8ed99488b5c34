import { isIP } from 'node:net'
import { describe, expect, it } from 'vitest'
import { bitAt, formatIpAddress, parseIpAddress, unmapIpv4 } from './ip-address.js'

const valid = [
  '0.0.0.0',
  '203.0.113.7',
  '255.255.255.255',
  '::',
  '::1',
  '1::',
  '2001:db8::1',
  '2001:DB8:0:0:0:0:0:1',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6::8',
  '::ffff:203.0.113.7',
  '::203.0.113.7',
  '1:2:3:4:5:6:1.2.3.4',
  'fe80::1%eth0',
]
const invalid = [
  '',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '1.2.3',
  '1.2.3.4.5',
  '1.2.3.256',
  '01.2.3.4',
  '1.2.3.-1',
  '1.2.3.4%eth0',
  'localhost',
  ':',
  ':::',
  '1:::2',
  '1::2::3',
  ':1::',
  '1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::8',
  '12345::',
  'g::',
  '1.2.3.4::',
  '::1.2.3.4:5',
  'fe80::1%',
]

describe('parseIpAddress', () => {
  it.each(valid)('accepts %s, as node:net does', (text) => {
    expect(isIP(text)).not.toBe(0)
    expect(parseIpAddress(text)).not.toBeNull()
  })

  it.each(invalid)('rejects %j, as node:net does', (text) => {
    expect(isIP(text)).toBe(0)
    expect(parseIpAddress(text)).toBeNull()
  })

  it('reads IPv4 as 4 bytes', () => {
    expect(parseIpAddress('203.0.113.7')).toEqual(Uint8Array.from([203, 0, 113, 7]))
  })

  it('reads IPv6 as 16 bytes, expanding :: and an embedded IPv4 address', () => {
    expect(parseIpAddress('2001:db8::1')).toEqual(
      Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    )
    expect(parseIpAddress('::ffff:203.0.113.7')).toEqual(
      Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7]),
    )
    expect(parseIpAddress('fe80::1%eth0')).toEqual(parseIpAddress('fe80::1'))
  })
})

describe('formatIpAddress', () => {
  it.each(['203.0.113.7', '2001:db8::1', '::ffff:203.0.113.7', '::', '1:2:3:4:5:6:7:8'])(
    'writes %s so that it parses back to the same bytes',
    (text) => {
      const bytes = parseIpAddress(text) ?? new Uint8Array()
      expect(parseIpAddress(formatIpAddress(bytes))).toEqual(bytes)
    },
  )
})

describe('unmapIpv4', () => {
  it('turns an IPv4-mapped IPv6 address into its IPv4 address', () => {
    expect(unmapIpv4(parseIpAddress('::ffff:203.0.113.7') ?? new Uint8Array())).toEqual(
      Uint8Array.from([203, 0, 113, 7]),
    )
  })

  it.each(['203.0.113.7', '::203.0.113.7', '1::ffff:203.0.113.7', '2001:db8::1'])(
    'leaves %s as it is',
    (text) => {
      const bytes = parseIpAddress(text) ?? new Uint8Array()
      expect(unmapIpv4(bytes)).toEqual(bytes)
    },
  )
})

describe('bitAt', () => {
  it('counts from the most significant bit of the first byte', () => {
    const bytes = Uint8Array.from([0b1000_0001, 0b0100_0000])
    expect([0, 1, 7, 8, 9].map((index) => bitAt(bytes, index))).toEqual([1, 0, 1, 0, 1])
  })
})
