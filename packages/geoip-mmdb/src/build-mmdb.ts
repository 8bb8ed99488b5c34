import { type City, GeoIpError } from '@sluice/core'
import { DataEncoder, DataType } from './data-encoder.js'
import { bitAt, type IpBytes, parseIpAddress } from './ip-address.js'
import { DATA_SECTION_SEPARATOR, METADATA_MARKER } from './mmdb-format.js'

/** One network of a database being built, and the record every address in it resolves to. */
export interface MmdbNetwork {
  /** CIDR notation (`203.0.113.0/24`, `2001:db8::/32`); a bare address means a single host. */
  network: string
  /**
   * What lookups inside `network` return, usually in the GeoIP2 City shape. Values may be strings,
   * booleans, numbers, arrays and plain objects; `undefined` properties are left out.
   * Non-negative integers are written as uint16 or uint32 (as MaxMind writes `geoname_id` and
   * `accuracy_radius`), negative ones as int32, all other numbers as doubles.
   */
  record: City
}

/** Options of {@link buildMmdb}. */
export interface BuildMmdbOptions {
  /**
   * The networks and their records. Where networks nest, the more specific one wins for the
   * addresses it covers, whatever the order of the list. Listing one network twice is an error.
   */
  networks: readonly MmdbNetwork[]
  /**
   * The `database_type` metadata field, which readers show and some check.
   * @default 'Sluice-Test-City'
   */
  databaseType?: string
  /**
   * The `description` metadata field, by language code.
   * @default { en: 'Sluice test database' }
   */
  description?: Readonly<Record<string, string>>
  /**
   * The `languages` metadata field: the locales the records' `names` maps carry.
   * @default ['en']
   */
  languages?: readonly string[]
  /**
   * 6 builds an IPv6 tree holding IPv4 networks under `::/96` (and aliased at `::ffff:0:0/96`, as
   * MaxMind's own databases are); 4 builds an IPv4-only tree, which rejects IPv6 networks.
   * @default 6
   */
  ipVersion?: 4 | 6
  /**
   * Bits per search-tree record; larger sizes allow larger databases.
   * @default 28
   */
  recordSize?: 24 | 28 | 32
  /**
   * The `build_epoch` metadata field, in seconds since the Unix epoch.
   * @default the current time
   */
  buildEpoch?: number
}

const IPV4_MAPPED_PREFIX = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0])

interface TreeNode {
  children: [Child, Child]
}

/** A subtree: another node, the data-section offset of a record, or null for "no data". */
type Child = TreeNode | { dataOffset: number } | null

interface ParsedNetwork {
  text: string
  bits: IpBytes
  prefixLength: number
  record: City
}

/**
 * Builds a MaxMind DB (format 2.0, the `.mmdb` files of GeoIP2/GeoLite2) holding `networks`,
 * readable by `createMmdbGeoIp` and by MaxMind's readers. Meant for test and example databases:
 * it builds the whole file in memory, and records that are equal byte for byte are stored once.
 * Throws `GeoIpError` (code `geoip.build-invalid`) naming the network at fault.
 * @example
 * const database = buildMmdb({
 *   networks: [
 *     { network: '203.0.113.0/24', record: { city: { names: { en: 'Berlin' } }, country: { iso_code: 'DE' } } },
 *     { network: '2001:db8::/32', record: { country: { iso_code: 'NL' } } },
 *   ],
 * })
 * await writeFile('test-city.mmdb', database)
 */
export function buildMmdb(options: BuildMmdbOptions): Uint8Array {
  const ipVersion = options.ipVersion ?? 6
  const recordSize = options.recordSize ?? 28
  const buildEpoch = options.buildEpoch ?? Math.floor(Date.now() / 1000)
  if (ipVersion !== 4 && ipVersion !== 6) throw buildError(`ipVersion must be 4 or 6, not ${ipVersion}`)
  if (recordSize !== 24 && recordSize !== 28 && recordSize !== 32) {
    throw buildError(`recordSize must be 24, 28 or 32, not ${recordSize}`)
  }
  if (!Number.isSafeInteger(buildEpoch) || buildEpoch < 0) {
    throw buildError(`buildEpoch must be a whole number of seconds since 1970, not ${buildEpoch}`)
  }
  const networks = parseNetworks(options.networks, ipVersion)

  const data = new DataEncoder()
  const offsets = new Map<string, number>()
  const root: TreeNode = { children: [null, null] }
  // Shorter prefixes first, so a more specific network is carved out of the one containing it.
  for (const network of [...networks].sort((a, b) => a.prefixLength - b.prefixLength)) {
    const bytes = encodeRecord(network)
    const key = Buffer.from(bytes).toString('latin1')
    let dataOffset = offsets.get(key)
    if (dataOffset === undefined) {
      dataOffset = data.length
      offsets.set(key, dataOffset)
      data.raw(bytes)
    }
    setSubtree(root, network.bits, network.prefixLength, { dataOffset })
  }
  if (ipVersion === 6 && networks.some((network) => isIpv4Subtree(network.bits))) {
    const ipv4Root = descend(root, new Uint8Array(16), 95).children[0]
    setSubtree(root, IPV4_MAPPED_PREFIX, 96, ipv4Root)
  }

  const nodes = numberNodes(root)
  const nodeCount = nodes.size
  const largestRecord = nodeCount + DATA_SECTION_SEPARATOR + data.length
  if (largestRecord >= 2 ** recordSize) {
    throw buildError(
      `${nodeCount} tree nodes and ${data.length} bytes of records do not fit ${recordSize}-bit records — pass a larger recordSize`,
    )
  }
  const recordValue = (child: Child): number => {
    if (child === null) return nodeCount
    if ('dataOffset' in child) return nodeCount + DATA_SECTION_SEPARATOR + child.dataOffset
    return nodes.get(child) ?? nodeCount
  }

  const out = new DataEncoder()
  out.raw(writeTree([...nodes.keys()], recordSize, recordValue))
  out.raw(new Uint8Array(DATA_SECTION_SEPARATOR))
  out.raw(data.bytes())
  out.raw(METADATA_MARKER)
  writeMetadata(out, {
    nodeCount,
    recordSize,
    ipVersion,
    databaseType: options.databaseType ?? 'Sluice-Test-City',
    languages: options.languages ?? ['en'],
    description: options.description ?? { en: 'Sluice test database' },
    buildEpoch,
  })
  return out.bytes()
}

function parseNetworks(networks: readonly MmdbNetwork[], ipVersion: 4 | 6): ParsedNetwork[] {
  const seen = new Map<string, string>()
  return networks.map(({ network: text, record }) => {
    const [address = '', prefix, ...rest] = text.split('/')
    const bytes = parseIpAddress(address)
    if (bytes === null || rest.length > 0 || address.includes('%')) {
      throw buildError(`'${text}' is not a network in CIDR notation (like 203.0.113.0/24 or 2001:db8::/32)`)
    }
    const maxPrefix = bytes.length * 8
    const prefixLength = prefix === undefined ? maxPrefix : Number(prefix)
    if ((prefix !== undefined && !/^\d{1,3}$/.test(prefix)) || prefixLength > maxPrefix) {
      throw buildError(`'${text}' has an invalid prefix length; it must be 0 to ${maxPrefix}`)
    }
    for (let bit = prefixLength; bit < maxPrefix; bit++) {
      if (bitAt(bytes, bit) === 1) throw buildError(`'${text}' has address bits set past /${prefixLength}`)
    }
    if (bytes.length === 16 && ipVersion === 4) {
      throw buildError(`'${text}' is an IPv6 network, but the database is IPv4-only (ipVersion: 4)`)
    }
    if (bytes.length === 16 && prefixLength >= 96 && isWithin(bytes, IPV4_MAPPED_PREFIX, 96)) {
      throw buildError(`'${text}' is IPv4-mapped; write it as an IPv4 network instead`)
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw buildError(`the record of '${text}' must be an object`)
    }
    const parsed: ParsedNetwork =
      bytes.length === 4 && ipVersion === 6
        ? { text, bits: embedIpv4(bytes), prefixLength: prefixLength + 96, record }
        : { text, bits: bytes, prefixLength, record }
    const key = `${parsed.bits.join('.')}/${parsed.prefixLength}`
    const earlier = seen.get(key)
    if (earlier !== undefined) throw buildError(`'${text}' is listed twice (also as '${earlier}')`)
    seen.set(key, text)
    return parsed
  })
}

/** The IPv6 tree position of an IPv4 address: `::/96` followed by its 32 bits. */
function embedIpv4(bytes: IpBytes): IpBytes {
  const embedded = new Uint8Array(16)
  embedded.set(bytes, 12)
  return embedded
}

function isIpv4Subtree(bits: IpBytes): boolean {
  return bits.length === 16 && isWithin(bits, new Uint8Array(16), 96)
}

function isWithin(bits: IpBytes, prefix: IpBytes, prefixLength: number): boolean {
  for (let bit = 0; bit < prefixLength; bit++) if (bitAt(bits, bit) !== bitAt(prefix, bit)) return false
  return true
}

/**
 * The node `depth` steps from the root along `bits`, creating nodes on the way. A leaf or empty
 * record met on the way becomes a node whose halves both keep its value.
 */
function descend(root: TreeNode, bits: IpBytes, depth: number): TreeNode {
  let node = root
  for (let bit = 0; bit < depth; bit++) {
    const side = bitAt(bits, bit)
    const child = node.children[side]
    if (child !== null && 'children' in child) {
      node = child
    } else {
      const split: TreeNode = { children: [child, child] }
      node.children[side] = split
      node = split
    }
  }
  return node
}

function setSubtree(root: TreeNode, bits: IpBytes, prefixLength: number, child: Child): void {
  if (prefixLength === 0) {
    root.children = [child, child]
    return
  }
  descend(root, bits, prefixLength - 1).children[bitAt(bits, prefixLength - 1)] = child
}

/** Node numbers in breadth-first order from the root (node 0); an aliased node is numbered once. */
function numberNodes(root: TreeNode): Map<TreeNode, number> {
  const numbers = new Map<TreeNode, number>([[root, 0]])
  for (const node of numbers.keys()) {
    for (const child of node.children) {
      if (child !== null && 'children' in child && !numbers.has(child)) numbers.set(child, numbers.size)
    }
  }
  return numbers
}

function writeTree(nodes: readonly TreeNode[], recordSize: 24 | 28 | 32, value: (child: Child) => number) {
  const nodeBytes = recordSize / 4
  const tree = new Uint8Array(nodes.length * nodeBytes)
  const view = new DataView(tree.buffer)
  for (const [index, node] of nodes.entries()) {
    const at = index * nodeBytes
    const left = value(node.children[0])
    const right = value(node.children[1])
    if (recordSize === 32) {
      view.setUint32(at, left)
      view.setUint32(at + 4, right)
    } else {
      writeUint24(view, at, left & 0xff_ffff)
      writeUint24(view, at + nodeBytes - 3, right & 0xff_ffff)
      // 28-bit records keep their top four bits in the shared middle byte, the left's high nibble first.
      if (recordSize === 28) view.setUint8(at + 3, ((left >>> 24) << 4) | (right >>> 24))
    }
  }
  return tree
}

function writeUint24(view: DataView, at: number, value: number): void {
  view.setUint8(at, value >>> 16)
  view.setUint16(at + 1, value & 0xffff)
}

function encodeRecord(network: ParsedNetwork): Uint8Array {
  const encoder = new DataEncoder()
  try {
    encodeValue(encoder, network.record, 'record')
  } catch (error) {
    throw buildError(`cannot write the record of '${network.text}': ${(error as Error).message}`, error)
  }
  return encoder.bytes()
}

function encodeValue(encoder: DataEncoder, value: unknown, path: string): void {
  if (typeof value === 'string') {
    encoder.string(value)
  } else if (typeof value === 'boolean') {
    encoder.boolean(value)
  } else if (typeof value === 'number') {
    encodeNumber(encoder, value)
  } else if (Array.isArray(value)) {
    encoder.arrayHeader(value.length)
    for (const [index, item] of value.entries()) encodeValue(encoder, item, `${path}[${index}]`)
  } else if (typeof value === 'object' && value !== null && isPlainObject(value)) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined)
    encoder.mapHeader(entries.length)
    for (const [key, item] of entries) {
      encoder.string(key)
      encodeValue(encoder, item, `${path}.${key}`)
    }
  } else {
    const kind = typeof value === 'object' ? Object.prototype.toString.call(value).slice(8, -1) : typeof value
    throw new TypeError(
      `${path} is ${kind}; a MaxMind DB holds strings, numbers, booleans, arrays and objects`,
    )
  }
}

function encodeNumber(encoder: DataEncoder, value: number): void {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value > 0xffff_ffff) {
    encoder.double(value)
  } else if (value < 0) {
    encoder.negativeInt32(value)
  } else {
    encoder.uint(value <= 0xffff ? DataType.uint16 : DataType.uint32, value)
  }
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

interface Metadata {
  nodeCount: number
  recordSize: number
  ipVersion: number
  databaseType: string
  languages: readonly string[]
  description: Readonly<Record<string, string>>
  buildEpoch: number
}

/** The metadata map, with the integer types the spec gives each field. */
function writeMetadata(out: DataEncoder, metadata: Metadata): void {
  out.mapHeader(9)
  out.string('binary_format_major_version')
  out.uint(DataType.uint16, 2)
  out.string('binary_format_minor_version')
  out.uint(DataType.uint16, 0)
  out.string('build_epoch')
  out.uint(DataType.uint64, metadata.buildEpoch)
  out.string('database_type')
  out.string(metadata.databaseType)
  out.string('description')
  const description = Object.entries(metadata.description)
  out.mapHeader(description.length)
  for (const [language, text] of description) {
    out.string(language)
    out.string(text)
  }
  out.string('ip_version')
  out.uint(DataType.uint16, metadata.ipVersion)
  out.string('languages')
  out.arrayHeader(metadata.languages.length)
  for (const language of metadata.languages) out.string(language)
  out.string('node_count')
  out.uint(DataType.uint32, metadata.nodeCount)
  out.string('record_size')
  out.uint(DataType.uint16, metadata.recordSize)
}

function buildError(message: string, cause?: unknown): GeoIpError {
  return new GeoIpError(message, { retryable: false, code: 'geoip.build-invalid', cause })
}
