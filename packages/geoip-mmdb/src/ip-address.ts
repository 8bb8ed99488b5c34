/** A parsed IP address: 4 bytes for IPv4, 16 for IPv6, network byte order. */
export type IpBytes = Uint8Array

const IPV4_OCTET = /^(?:0|[1-9]\d{0,2})$/
const IPV6_GROUP = /^[0-9a-f]{1,4}$/i

/**
 * Parses a textual IPv4 (`203.0.113.7`) or IPv6 (`2001:db8::1`, `::ffff:203.0.113.7`,
 * `fe80::1%eth0`) address. Strict like `node:net`'s `isIP`: no leading zeros in IPv4 octets, no
 * surrounding whitespace. An IPv6 zone index is accepted and dropped.
 * @returns the address bytes, or null when `text` is not an IP address
 */
export function parseIpAddress(text: string): IpBytes | null {
  if (!text.includes(':')) return parseIpv4(text)
  const zone = text.indexOf('%')
  // A zone names a local interface: meaningful for link-local routing, never for a lookup.
  if (zone !== -1 && zone === text.length - 1) return null
  return parseIpv6(zone === -1 ? text : text.slice(0, zone))
}

/** Writes `bytes` in a form {@link parseIpAddress} reads back: dotted quad, or eight hex groups. */
export function formatIpAddress(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16))
  return groups.join(':')
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, what dual-stack
 * sockets report for IPv4 peers); any other address unchanged.
 */
export function unmapIpv4(bytes: IpBytes): IpBytes {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes
  return bytes.slice(12)
}

/** Bit `index` of `bytes`, counting from the most significant bit of the first byte. */
export function bitAt(bytes: IpBytes, index: number): 0 | 1 {
  return (((bytes[index >> 3] ?? 0) >> (7 - (index & 7))) & 1) as 0 | 1
}

function parseIpv4(text: string): IpBytes | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  const bytes = new Uint8Array(4)
  for (const [i, part] of parts.entries()) {
    if (!IPV4_OCTET.test(part)) return null
    const octet = Number(part)
    if (octet > 255) return null
    bytes[i] = octet
  }
  return bytes
}

function parseIpv6(text: string): IpBytes | null {
  const halves = text.split('::')
  if (halves.length > 2) return null
  const head = parseGroups(halves[0] ?? '', halves.length === 1)
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '', true) : []
  if (head === null || tail === null) return null
  const compressed = halves.length === 2
  // `::` stands for at least one zero group, so a compressed address has at most seven others.
  if (compressed ? head.length + tail.length > 7 : head.length !== 8) return null
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  for (const [i, group] of groups.entries()) {
    bytes[i * 2] = group >> 8
    bytes[i * 2 + 1] = group & 0xff
  }
  return bytes
}

/** The 16-bit groups of one side of `::`; only the address's last group may be a dotted IPv4. */
function parseGroups(text: string, endsAddress: boolean): number[] | null {
  if (text === '') return []
  const parts = text.split(':')
  const groups: number[] = []
  for (const [i, part] of parts.entries()) {
    if (endsAddress && i === parts.length - 1 && part.includes('.')) {
      const ipv4 = parseIpv4(part)
      if (ipv4 === null) return null
      groups.push(((ipv4[0] ?? 0) << 8) | (ipv4[1] ?? 0), ((ipv4[2] ?? 0) << 8) | (ipv4[3] ?? 0))
    } else if (IPV6_GROUP.test(part)) {
      groups.push(Number.parseInt(part, 16))
    } else {
      return null
    }
  }
  return groups
}
