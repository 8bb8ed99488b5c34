// Test support: plugin folders in a temp dir and archive writers (tar headers with pax long names, zip).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { deflateRawSync, gzipSync } from 'node:zlib'

/** A fresh temp folder for one test file. */
export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-plugin-files-'))
}

/** Writes files (path → text or bytes) under `root/name` and returns that folder. */
export function writeFiles(root: string, name: string, files: Record<string, string | Uint8Array>): string {
  const folder = join(root, name)
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true })
    writeFileSync(join(folder, path), contents)
  }
  return folder
}

function tarHeader(path: string, size: number, type: string): Buffer {
  const header = Buffer.alloc(512)
  header.write(path, 0, 100, 'utf8')
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124)
  header.write('00000000000\0', 136)
  header.write('        ', 148)
  header.write(type, 156)
  header.write('ustar\0', 257)
  header.write('00', 263)
  let sum = 0
  for (const byte of header) sum += byte
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return header
}

/** A gzipped tar of the files, as `npm pack` lays them out when `prefix` is `package/`. */
export function tgz(files: Record<string, string | Uint8Array>, prefix = ''): Buffer {
  const blocks: Buffer[] = []
  for (const [path, contents] of Object.entries(files)) {
    const data = Buffer.from(contents)
    const name = `${prefix}${path}`
    if (name.length > 99) {
      const record = ` path=${name}\n`
      let length = record.length + 1
      while (String(length).length + record.length !== length) length = String(length).length + record.length
      const pax = Buffer.from(`${length}${record}`)
      blocks.push(
        tarHeader('PaxHeader', pax.length, 'x'),
        pax,
        Buffer.alloc((512 - (pax.length % 512)) % 512),
      )
    }
    blocks.push(tarHeader(name.slice(0, 99), data.length, '0'), data)
    blocks.push(Buffer.alloc((512 - (data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

/** A zip of the files, deflated. */
export function zip(files: Record<string, string | Uint8Array>, prefix = ''): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [path, contents] of Object.entries(files)) {
    const data = Buffer.from(contents)
    const packed = deflateRawSync(data)
    const name = Buffer.from(`${prefix}${path}`)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(8, 8)
    local.writeUInt32LE(packed.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(8, 10)
    central.writeUInt32LE(packed.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, packed)
    centrals.push(central, name)
    offset += local.length + name.length + packed.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(centrals.length / 2, 8)
  end.writeUInt16LE(centrals.length / 2, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}
