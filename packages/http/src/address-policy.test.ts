import { describe, expect, it } from 'vitest'
import { classifyAddress } from './address-policy.js'

describe('classifyAddress', () => {
  // Each blocked range at its first and last address, plus the one address the brief names.
  it.each([
    ['0.0.0.0', '0.0.0.0/8'],
    ['0.255.255.255', '0.0.0.0/8'],
    ['10.0.0.0', '10.0.0.0/8'],
    ['10.255.255.255', '10.0.0.0/8'],
    ['100.64.0.0', '100.64.0.0/10'],
    ['100.127.255.255', '100.64.0.0/10'],
    ['127.0.0.1', '127.0.0.0/8'],
    ['127.255.255.255', '127.0.0.0/8'],
    ['169.254.0.0', '169.254.0.0/16'],
    ['169.254.255.255', '169.254.0.0/16'],
    ['172.16.0.0', '172.16.0.0/12'],
    ['172.31.255.255', '172.16.0.0/12'],
    ['192.0.0.0', '192.0.0.0/24'],
    ['192.0.0.255', '192.0.0.0/24'],
    ['192.0.2.1', '192.0.2.0/24'],
    ['192.168.0.0', '192.168.0.0/16'],
    ['192.168.255.255', '192.168.0.0/16'],
    ['198.18.0.0', '198.18.0.0/15'],
    ['198.19.255.255', '198.18.0.0/15'],
    ['198.51.100.7', '198.51.100.0/24'],
    ['203.0.113.7', '203.0.113.0/24'],
    ['224.0.0.0', '224.0.0.0/4'],
    ['239.255.255.255', '224.0.0.0/4'],
    ['240.0.0.0', '240.0.0.0/4'],
    ['255.255.255.255', '240.0.0.0/4'],
  ])('refuses IPv4 %s (in %s)', (address, range) => {
    expect(classifyAddress(address)).toEqual({
      kind: 'private',
      reason: expect.stringContaining(`in ${range}`),
    })
  })

  it.each([
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['::2', '::/96'],
    ['64:ff9b:1::1', '64:ff9b:1::/48'],
    ['100::1', '100::/64'],
    ['2001::1', '2001::/23'],
    ['2001:db8::1', '2001:db8::/32'],
    ['fc00::', 'fc00::/7'],
    ['fd12:3456:789a::1', 'fc00::/7'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fc00::/7'],
    ['fe80::', 'fe80::/10'],
    ['fe80::1%eth0', 'fe80::/10'],
    ['febf:ffff::1', 'fe80::/10'],
    ['fec0::1', 'fec0::/10'],
    ['ff00::', 'ff00::/8'],
    ['ff02::1', 'ff00::/8'],
    ['FF05::1:3', 'ff00::/8'],
  ])('refuses IPv6 %s (in %s)', (address, range) => {
    expect(classifyAddress(address)).toEqual({
      kind: 'private',
      reason: expect.stringContaining(`in ${range}`),
    })
  })

  it.each([
    // Unallocated space outside 2000::/3 that no named range covers.
    '4000::1',
    '1::1',
    'e000::1',
  ])('refuses IPv6 %s outside global unicast', (address) => {
    expect(classifyAddress(address)).toEqual({ kind: 'private', reason: 'outside global unicast (2000::/3)' })
  })

  it.each([
    ['::ffff:127.0.0.1', 'IPv4-mapped 127.0.0.1', '127.0.0.0/8'],
    ['::ffff:7f00:1', 'IPv4-mapped 127.0.0.1', '127.0.0.0/8'],
    ['0:0:0:0:0:ffff:10.1.2.3', 'IPv4-mapped 10.1.2.3', '10.0.0.0/8'],
    ['::ffff:0:192.168.1.1', 'IPv4-translated 192.168.1.1', '192.168.0.0/16'],
    ['64:ff9b::10.0.0.1', 'NAT64 10.0.0.1', '10.0.0.0/8'],
    ['64:ff9b::a00:1', 'NAT64 10.0.0.1', '10.0.0.0/8'],
    ['2002:7f00:1::', '6to4 127.0.0.1', '127.0.0.0/8'],
    ['2002:c0a8:101::1', '6to4 192.168.1.1', '192.168.0.0/16'],
  ])('judges %s by the IPv4 address it embeds', (address, form, range) => {
    expect(classifyAddress(address)).toEqual({
      kind: 'private',
      reason: expect.stringContaining(`${form}, which is in ${range} (`),
    })
  })

  it.each([
    '169.254.169.254',
    '169.254.170.2',
    '168.63.129.16',
    '100.100.100.200',
    '192.0.0.192',
    'fd00:ec2::254',
    'fd00:ec2:0:0:0:0:0:254',
    'fd20:ce::254',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
  ])('marks %s as a cloud metadata endpoint', (address) => {
    expect(classifyAddress(address)).toMatchObject({ kind: 'metadata' })
  })

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.0',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2001:200::1',
    '2a00:1450:4001::200e',
    '3ffe::1',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('lets public %s through', (address) => {
    expect(classifyAddress(address)).toEqual({ kind: 'public' })
  })

  it.each(['localhost', '', '127.1', '0x7f000001', '1.2.3.4.5', '[::1]'])(
    'calls %j not an IP address',
    (text) => {
      expect(classifyAddress(text)).toEqual({ kind: 'invalid' })
    },
  )
})
