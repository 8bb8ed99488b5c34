// Readers for plugin archives (.tgz / .tar / .zip) on node:zlib alone: only what `npm pack`, `tar`
// and common zip tools write (regular files and folders; no encryption, no zip64).
import { gunzipSync, inflateRawSync } from 'node:zlib'
import { ValidationError } from '@sluice/core'

/** One regular file of an archive. */
export interface ArchiveEntry {
  /** POSIX path inside the archive, as stored. */
  path: string
  contents: Buffer
}

/** Limits applied while unpacking, so an archive cannot expand past them. */
export interface ArchiveLimits {
  maxFileBytes: number
  maxTotalBytes: number
  maxFiles: number
}

/** The archive formats {@link readArchive} reads: gzipped tar, tar, zip. */
export type ArchiveKind = 'tar' | 'tgz' | 'zip'

/** The archive kind of a file name (`.tgz`, `.tar.gz`, `.tar`, `.zip`), or null. */
export function archiveKind(path: string): ArchiveKind | null {
  const name = path.toLowerCase()
  if (name.endsWith('.tgz') || name.endsWith('.tar.gz')) return 'tgz'
  if (name.endsWith('.tar')) return 'tar'
  if (name.endsWith('.zip')) return 'zip'
  return null
}

const invalid = (archive: string, message: string) =>
  new ValidationError('plugin-files', `cannot read plugin archive ${archive}`, [{ field: archive, message }])

const tooLarge = (archive: string, path: string, limit: number) =>
  new ValidationError('plugin-files', `cannot read plugin archive ${archive}`, [
    { field: path, message: `is larger than ${formatBytes(limit)}, the limit for one plugin file` },
  ])

/** `1.5 MB`, `12 kB`, `300 B`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Number((bytes / (1024 * 1024)).toFixed(1))} MB`
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} kB`
  return `${bytes} B`
}

/** Unpacks the regular files of an archive; folders, links and devices are left out. */
export function readArchive(
  name: string,
  kind: ArchiveKind,
  data: Buffer,
  limits: ArchiveLimits,
): ArchiveEntry[] {
  if (kind === 'zip') return readZip(name, data, limits)
  let tar = data
  if (kind === 'tgz') {
    try {
      tar = gunzipSync(data, { maxOutputLength: limits.maxTotalBytes + 1024 * 1024 })
    } catch (error) {
      const message =
        (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
          ? `unpacks to more than ${formatBytes(limits.maxTotalBytes)}, the limit for a plugin`
          : `is not a gzip file: ${(error as Error).message}`
      throw invalid(name, message)
    }
  }
  return readTar(name, tar, limits)
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8')
}

function checksumMatches(header: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0)
  return Number.parseInt(cString(header, 148, 8).trim(), 8) === sum
}

function readTar(name: string, tar: Buffer, limits: ArchiveLimits): ArchiveEntry[] {
  const entries: ArchiveEntry[] = []
  let offset = 0
  let longName: string | null = null
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    if (!checksumMatches(header)) throw invalid(name, 'is not a tar archive (bad header checksum)')
    const sizeField = cString(header, 124, 12).trim()
    if ((header[124] ?? 0) & 0x80 || !/^[0-7]*$/.test(sizeField)) {
      throw invalid(name, 'holds an entry too large for a plugin')
    }
    const size = sizeField === '' ? 0 : Number.parseInt(sizeField, 8)
    const type = String.fromCharCode(header[156] ?? 0)
    const dataStart = offset + 512
    const data = tar.subarray(dataStart, dataStart + size)
    if (data.length < size) throw invalid(name, 'is truncated')
    offset = dataStart + Math.ceil(size / 512) * 512

    if (type === 'L') {
      longName = cString(data, 0, data.length)
      continue
    }
    if (type === 'x') {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))
      if (path?.[1] !== undefined) longName = path[1]
      continue
    }
    const prefix = cString(header, 345, 155)
    const path = longName ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100))
    longName = null
    if (type !== '0' && type !== '\0') continue
    if (size > limits.maxFileBytes) throw tooLarge(name, path, limits.maxFileBytes)
    entries.push({ path, contents: Buffer.from(data) })
    if (entries.length > limits.maxFiles) {
      throw invalid(name, `holds more than ${limits.maxFiles} files, the limit for a plugin`)
    }
  }
  return entries
}

const EOCD = 0x06054b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50

function readZip(name: string, zip: Buffer, limits: ArchiveLimits): ArchiveEntry[] {
  let eocd = -1
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === EOCD) {
      eocd = at
      break
    }
  }
  if (eocd === -1) throw invalid(name, 'is not a zip archive')
  const count = zip.readUInt16LE(eocd + 10)
  let at = zip.readUInt32LE(eocd + 16)
  if (count === 0xffff || at === 0xffffffff) throw invalid(name, 'is a zip64 archive, which is not supported')
  const entries: ArchiveEntry[] = []
  let total = 0
  for (let index = 0; index < count; index++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL) throw invalid(name, 'is corrupt')
    const flags = zip.readUInt16LE(at + 8)
    const method = zip.readUInt16LE(at + 10)
    const compressedSize = zip.readUInt32LE(at + 20)
    const size = zip.readUInt32LE(at + 24)
    const nameLength = zip.readUInt16LE(at + 28)
    const extraLength = zip.readUInt16LE(at + 30)
    const commentLength = zip.readUInt16LE(at + 32)
    const unixMode = zip.readUInt32LE(at + 38) >>> 16
    const localAt = zip.readUInt32LE(at + 42)
    const path = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8')
    at += 46 + nameLength + extraLength + commentLength

    const fileType = unixMode & 0o170000
    if (path.endsWith('/') || (fileType !== 0 && fileType !== 0o100000)) continue
    if (flags & 1) throw invalid(name, `${path} is encrypted`)
    if (size === 0xffffffff || compressedSize === 0xffffffff) {
      throw invalid(name, 'is a zip64 archive, which is not supported')
    }
    if (size > limits.maxFileBytes) throw tooLarge(name, path, limits.maxFileBytes)
    total += size
    if (total > limits.maxTotalBytes) {
      throw invalid(name, `unpacks to more than ${formatBytes(limits.maxTotalBytes)}, the limit for a plugin`)
    }
    if (localAt + 30 > zip.length || zip.readUInt32LE(localAt) !== LOCAL) throw invalid(name, 'is corrupt')
    const dataStart = localAt + 30 + zip.readUInt16LE(localAt + 26) + zip.readUInt16LE(localAt + 28)
    const data = zip.subarray(dataStart, dataStart + compressedSize)
    if (data.length < compressedSize) throw invalid(name, 'is truncated')
    let contents: Buffer
    if (method === 0) contents = Buffer.from(data)
    else if (method === 8) {
      try {
        contents = inflateRawSync(data, { maxOutputLength: Math.max(size, 1) })
      } catch (error) {
        throw invalid(name, `${path} cannot be inflated: ${(error as Error).message}`)
      }
    } else {
      throw invalid(name, `${path} uses compression method ${method}; only stored and deflate are supported`)
    }
    entries.push({ path, contents })
    if (entries.length > limits.maxFiles) {
      throw invalid(name, `holds more than ${limits.maxFiles} files, the limit for a plugin`)
    }
  }
  return entries
}
