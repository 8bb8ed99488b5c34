import { readFile } from 'node:fs/promises'
import { type City, type GeoIp, GeoIpError } from '@sluice/core'
import { Reader, type Response } from 'mmdb-lib'
import { formatIpAddress, parseIpAddress, unmapIpv4 } from './ip-address.js'
import { DATA_SECTION_SEPARATOR, METADATA_MARKER } from './mmdb-format.js'

/** Options of {@link createMmdbGeoIp} that read the database from a file. */
export interface MmdbGeoIpFileOptions {
  /** Path of a MaxMind DB file (`GeoLite2-City.mmdb`), read whole into memory once. */
  path: string
  /** Not with `path`. */
  database?: never
}

/** Options of {@link createMmdbGeoIp} that take the database's bytes. */
export interface MmdbGeoIpBytesOptions {
  /** The contents of a MaxMind DB file, such as {@link buildMmdb} returns. Copied, so it may be reused. */
  database: Uint8Array
  /** Not with `database`. */
  path?: never
}

/** Options of {@link createMmdbGeoIp}: a file `path` or the `database` bytes, not both. */
export type MmdbGeoIpOptions = MmdbGeoIpFileOptions | MmdbGeoIpBytesOptions

/**
 * Creates a {@link GeoIp} over a MaxMind DB City database (GeoIP2 or GeoLite2 City, or one built
 * with {@link buildMmdb}). The file is read and checked once, here; lookups are then synchronous
 * tree walks in memory. IPv4 addresses, IPv6 addresses and IPv4-mapped IPv6 addresses
 * (`::ffff:203.0.113.7`, looked up as their IPv4 address) are accepted; each lookup decodes a
 * fresh record, so callers may mutate what they get.
 *
 * Rejects with `GeoIpError` (not retryable) when the file is missing or unreadable
 * (`geoip.database-unreadable`) or is not a MaxMind DB (`geoip.database-invalid`). `locate`
 * rejects with `geoip.invalid-ip` for input that is not an IP address, and with
 * `geoip.database-corrupt` when the database turns out to be damaged past its metadata.
 * @example
 * const geoip = await createMmdbGeoIp({ path: '/var/lib/GeoIP/GeoLite2-City.mmdb' })
 * const city = await geoip.locate('203.0.113.7') // { city: { names: { en: … } }, country: { iso_code: … }, … } or null
 */
export async function createMmdbGeoIp(options: MmdbGeoIpOptions): Promise<GeoIp> {
  const { bytes, source } = await loadDatabase(options)
  // Without the marker mmdb-lib decodes from offset 0 and reports an unhelpful "Unknown type".
  if (bytes.lastIndexOf(METADATA_MARKER) === -1) throw invalidDatabase(source, 'no metadata section found')
  let reader: Reader<Response>
  try {
    reader = new Reader(bytes)
  } catch (error) {
    throw invalidDatabase(source, (error as Error).message, error)
  }
  const { binaryFormatMajorVersion, ipVersion, nodeCount, searchTreeSize } = reader.metadata
  if (binaryFormatMajorVersion !== 2) {
    throw invalidDatabase(source, `binary format version ${binaryFormatMajorVersion}; only 2 is supported`)
  }
  if (ipVersion !== 4 && ipVersion !== 6) throw invalidDatabase(source, `ip_version is ${ipVersion}`)
  if (!Number.isSafeInteger(nodeCount) || nodeCount < 1) {
    throw invalidDatabase(source, `node_count is ${nodeCount}`)
  }
  if (searchTreeSize + DATA_SECTION_SEPARATOR > bytes.length) {
    throw invalidDatabase(source, `its search tree runs past the end of the file`)
  }

  return {
    async locate(ip) {
      const parsed = typeof ip === 'string' ? parseIpAddress(ip) : null
      if (parsed === null) {
        throw new GeoIpError(`${describeInput(ip)} is not an IPv4 or IPv6 address`, {
          retryable: false,
          code: 'geoip.invalid-ip',
        })
      }
      const address = unmapIpv4(parsed)
      // mmdb-lib would walk an IPv4-only tree with an IPv6 address's first 32 bits: a wrong answer, not none.
      if (address.length === 16 && ipVersion === 4) return null
      try {
        return reader.get(formatIpAddress(address)) as City | null
      } catch (error) {
        throw new GeoIpError(
          `${source} is corrupt: looking up ${describeInput(ip)} failed (${(error as Error).message}) — replace it with a fresh copy`,
          { retryable: false, code: 'geoip.database-corrupt', cause: error },
        )
      }
    },
  }
}

async function loadDatabase(options: MmdbGeoIpOptions): Promise<{ bytes: Buffer; source: string }> {
  if (typeof options.path === 'string') {
    try {
      return { bytes: await readFile(options.path), source: `MaxMind database ${options.path}` }
    } catch (error) {
      throw new GeoIpError(
        `cannot read the MaxMind database ${options.path}: ${describeReadError(error)} — check the path; it should name a GeoIP2 or GeoLite2 City .mmdb file`,
        { retryable: false, code: 'geoip.database-unreadable', cause: error },
      )
    }
  }
  if (options.database instanceof Uint8Array) {
    return { bytes: Buffer.from(options.database), source: 'the MaxMind database given as bytes' }
  }
  throw new GeoIpError('no MaxMind database given — pass { path } to a .mmdb file or { database } bytes', {
    retryable: false,
    code: 'geoip.not-configured',
  })
}

function describeReadError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'it is a directory'
    default:
      return (error as Error).message
  }
}

function invalidDatabase(source: string, reason: string, cause?: unknown): GeoIpError {
  return new GeoIpError(
    `${source} is not a usable MaxMind DB file (${reason}) — use a GeoIP2 or GeoLite2 City .mmdb; a truncated download also looks like this`,
    { retryable: false, code: 'geoip.database-invalid', cause },
  )
}

/** The input, quoted and cut short: plugins may pass anything, of any length. */
function describeInput(input: unknown): string {
  const text = typeof input === 'string' ? JSON.stringify(input) : String(input)
  return text.length > 60 ? `${text.slice(0, 57)}…` : text
}
