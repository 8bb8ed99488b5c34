import { isIP } from 'node:net'

/**
 * What the SSRF guard makes of one IP address: reachable on the public internet, in a range that
 * only reaches the server's own networks, a cloud metadata endpoint, or not an IP address at all.
 */
export type AddressClass =
  | { readonly kind: 'public' }
  | {
      readonly kind: 'private' | 'metadata'
      /** Completes "<address> is …": `in 10.0.0.0/8 (private network)`. */
      readonly reason: string
    }
  | { readonly kind: 'invalid' }

interface Range<T extends number | bigint> {
  readonly base: T
  readonly bits: number
  /** As written in the table, for messages. */
  readonly cidr: string
  readonly label: string
}

/** Every IPv4 range that is not globally reachable (IANA special-purpose registry), plus multicast. */
const IPV4_BLOCKED: readonly Range<number>[] = [
  ipv4Range('0.0.0.0/8', 'this network'),
  ipv4Range('10.0.0.0/8', 'private network'),
  ipv4Range('100.64.0.0/10', 'carrier-grade NAT'),
  ipv4Range('127.0.0.0/8', 'loopback'),
  ipv4Range('169.254.0.0/16', 'link-local'),
  ipv4Range('172.16.0.0/12', 'private network'),
  ipv4Range('192.0.0.0/24', 'IETF protocol assignments'),
  ipv4Range('192.0.2.0/24', 'documentation'),
  ipv4Range('192.168.0.0/16', 'private network'),
  ipv4Range('198.18.0.0/15', 'benchmarking'),
  ipv4Range('198.51.100.0/24', 'documentation'),
  ipv4Range('203.0.113.0/24', 'documentation'),
  ipv4Range('224.0.0.0/4', 'multicast'),
  // Includes the limited broadcast address 255.255.255.255.
  ipv4Range('240.0.0.0/4', 'reserved'),
]

/**
 * Instance metadata and platform endpoints: they hand out cloud credentials, so they stay refused
 * even when private networks are allowed. Some are public addresses (Azure's WireServer).
 */
const METADATA_ADDRESSES: ReadonlyMap<string, string> = new Map([
  ['169.254.169.254', 'cloud instance metadata'],
  ['169.254.170.2', 'AWS ECS task metadata'],
  ['168.63.129.16', 'Azure WireServer'],
  ['100.100.100.200', 'Alibaba Cloud metadata'],
  ['192.0.0.192', 'Oracle Cloud metadata'],
  [formatIpv6(parseIpv6('fd00:ec2::254')), 'AWS instance metadata'],
  [formatIpv6(parseIpv6('fd20:ce::254')), 'Google Cloud metadata'],
])

/** Host names of metadata services, refused by name before any DNS lookup. */
export const METADATA_HOST_NAMES: ReadonlySet<string> = new Set(['metadata.google.internal', 'metadata.goog'])

/** IPv6 forms that carry an IPv4 address in their low bits; the embedded address decides. */
const IPV6_EMBEDDING_IPV4: readonly Range<bigint>[] = [
  ipv6Range('::ffff:0:0/96', 'IPv4-mapped'),
  ipv6Range('::ffff:0:0:0/96', 'IPv4-translated'),
  ipv6Range('64:ff9b::/96', 'NAT64'),
]

const IPV6_BLOCKED: readonly Range<bigint>[] = [
  ipv6Range('::/128', 'unspecified'),
  ipv6Range('::1/128', 'loopback'),
  // Deprecated IPv4-compatible addresses; after ::/128 and ::1 so those keep their own names.
  ipv6Range('::/96', 'IPv4-compatible'),
  ipv6Range('64:ff9b:1::/48', 'local-use NAT64'),
  ipv6Range('100::/64', 'discard-only'),
  ipv6Range('2001::/23', 'IETF protocol assignments (includes Teredo)'),
  ipv6Range('2001:db8::/32', 'documentation'),
  ipv6Range('3fff::/20', 'documentation'),
  ipv6Range('fc00::/7', 'unique local'),
  ipv6Range('fe80::/10', 'link-local'),
  ipv6Range('fec0::/10', 'site-local'),
  ipv6Range('ff00::/8', 'multicast'),
]

const IPV6_6TO4 = ipv6Range('2002::/16', '6to4')
const IPV6_GLOBAL_UNICAST = ipv6Range('2000::/3', 'global unicast')

/**
 * Classifies an IP address for the SSRF guard. IPv6 addresses that embed an IPv4 address
 * (IPv4-mapped, IPv4-translated, NAT64, 6to4) are judged by the embedded address; the deprecated
 * IPv4-compatible `::/96` is refused outright, and so is IPv6 outside global unicast (2000::/3),
 * which covers unallocated space too.
 * @example
 * classifyAddress('::ffff:7f00:1')
 * // { kind: 'private', reason: 'IPv4-mapped 127.0.0.1, which is in 127.0.0.0/8 (loopback)' }
 */
export function classifyAddress(address: string): AddressClass {
  const bare = stripZone(address)
  const family = isIP(bare)
  if (family === 4) return classifyIpv4(parseIpv4(bare))
  if (family === 6) return classifyIpv6(parseIpv6(bare))
  return { kind: 'invalid' }
}

function classifyIpv4(value: number): AddressClass {
  const text = formatIpv4(value)
  const metadata = METADATA_ADDRESSES.get(text)
  if (metadata) return { kind: 'metadata', reason: `the ${metadata} endpoint` }
  const range = IPV4_BLOCKED.find((r) => value >>> (32 - r.bits) === r.base >>> (32 - r.bits))
  return range ? { kind: 'private', reason: `in ${range.cidr} (${range.label})` } : { kind: 'public' }
}

function classifyIpv6(value: bigint): AddressClass {
  const metadata = METADATA_ADDRESSES.get(formatIpv6(value))
  if (metadata) return { kind: 'metadata', reason: `the ${metadata} endpoint` }
  const embedding = IPV6_EMBEDDING_IPV4.find((r) => inIpv6Range(value, r))
  if (embedding) return embedded(embedding, Number(value & 0xffffffffn))
  // 6to4 carries the IPv4 address in bits 16–47, right after the prefix.
  if (inIpv6Range(value, IPV6_6TO4)) return embedded(IPV6_6TO4, Number((value >> 80n) & 0xffffffffn))
  const range = IPV6_BLOCKED.find((r) => inIpv6Range(value, r))
  if (range) return { kind: 'private', reason: `in ${range.cidr} (${range.label})` }
  if (!inIpv6Range(value, IPV6_GLOBAL_UNICAST))
    return { kind: 'private', reason: 'outside global unicast (2000::/3)' }
  return { kind: 'public' }
}

function embedded(form: Range<bigint>, ipv4: number): AddressClass {
  const inner = classifyIpv4(ipv4)
  if (inner.kind !== 'private' && inner.kind !== 'metadata') return inner
  return { kind: inner.kind, reason: `${form.label} ${formatIpv4(ipv4)}, which is ${inner.reason}` }
}

function inIpv6Range(value: bigint, range: Range<bigint>): boolean {
  const shift = BigInt(128 - range.bits)
  return value >> shift === range.base >> shift
}

function stripZone(address: string): string {
  const zone = address.indexOf('%')
  return zone === -1 ? address : address.slice(0, zone)
}

/** Parses a dotted quad that `net.isIP` accepted (decimal, no leading zeros). */
function parseIpv4(text: string): number {
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0)
}

function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.')
}

/** Parses an IPv6 address that `net.isIP` accepted, including a trailing dotted quad. */
function parseIpv6(text: string): bigint {
  let hex = text.toLowerCase()
  const lastColon = hex.lastIndexOf(':')
  const tail = hex.slice(lastColon + 1)
  if (tail.includes('.')) {
    const ipv4 = parseIpv4(tail)
    hex = `${hex.slice(0, lastColon + 1)}${(ipv4 >>> 16).toString(16)}:${(ipv4 & 0xffff).toString(16)}`
  }
  const [head = '', rest] = hex.split('::')
  const left = head ? head.split(':') : []
  const right = rest ? rest.split(':') : []
  const zeros = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n)
}

/** The address's eight groups without zero compression: one spelling per address, for lookups. */
function formatIpv6(value: bigint): string {
  const groups: string[] = []
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16))
  return groups.join(':')
}

function ipv4Range(cidr: string, label: string): Range<number> {
  const [base = '', bits = ''] = cidr.split('/')
  return { base: parseIpv4(base), bits: Number(bits), cidr, label }
}

function ipv6Range(cidr: string, label: string): Range<bigint> {
  const [base = '', bits = ''] = cidr.split('/')
  return { base: parseIpv6(base), bits: Number(bits), cidr, label }
}
