/** Type numbers of the MaxMind DB data section (types above 7 are written as "extended"). */
export const DataType = {
  utf8: 2,
  double: 3,
  uint16: 5,
  uint32: 6,
  map: 7,
  int32: 8,
  uint64: 9,
  array: 11,
  boolean: 14,
} as const

/** Largest payload size a control byte and its three size bytes can express. */
const MAX_SIZE = 65_821 + 0xff_ffff

const utf8 = new TextEncoder()

/**
 * Appends values in the MaxMind DB data-section encoding (spec "Output Data Section"): a control
 * byte holding the type and payload size, then the payload, integers big-endian and minimal.
 */
export class DataEncoder {
  private readonly parts: Uint8Array[] = []
  private size = 0

  /** Bytes written so far. */
  get length(): number {
    return this.size
  }

  /** Everything written, as one array. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size)
    let offset = 0
    for (const part of this.parts) {
      out.set(part, offset)
      offset += part.length
    }
    return out
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): void {
    this.parts.push(bytes)
    this.size += bytes.length
  }

  /** A UTF-8 string. */
  string(value: string): void {
    const bytes = utf8.encode(value)
    this.header(DataType.utf8, bytes.length)
    this.raw(bytes)
  }

  /** An IEEE 754 double. */
  double(value: number): void {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setFloat64(0, value)
    this.header(DataType.double, 8)
    this.raw(bytes)
  }

  /** An unsigned integer of the given type; the caller checks it fits (uint64 up to 2^53 here). */
  uint(type: typeof DataType.uint16 | typeof DataType.uint32 | typeof DataType.uint64, value: number): void {
    const bytes: number[] = []
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
    this.header(type, bytes.length)
    this.raw(Uint8Array.from(bytes))
  }

  /** A negative 32-bit integer, always written in full four bytes as the spec asks of negatives. */
  negativeInt32(value: number): void {
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setInt32(0, value)
    this.header(DataType.int32, 4)
    this.raw(bytes)
  }

  /** A boolean: the value is the size field, with no payload. */
  boolean(value: boolean): void {
    this.header(DataType.boolean, value ? 1 : 0)
  }

  /** The start of a map of `entries` key/value pairs; write each key then its value next. */
  mapHeader(entries: number): void {
    this.header(DataType.map, entries)
  }

  /** The start of an array of `items` values; write them next. */
  arrayHeader(items: number): void {
    this.header(DataType.array, items)
  }

  private header(type: number, size: number): void {
    if (size > MAX_SIZE) {
      throw new RangeError(`a MaxMind DB value holds at most ${MAX_SIZE} bytes or entries, not ${size}`)
    }
    const control = type <= 7 ? type << 5 : 0
    const extended = type <= 7 ? [] : [type - 7]
    if (size < 29) {
      this.raw(Uint8Array.from([control | size, ...extended]))
    } else if (size < 285) {
      this.raw(Uint8Array.from([control | 29, ...extended, size - 29]))
    } else if (size < 65_821) {
      const rest = size - 285
      this.raw(Uint8Array.from([control | 30, ...extended, rest >> 8, rest & 0xff]))
    } else {
      const rest = size - 65_821
      this.raw(Uint8Array.from([control | 31, ...extended, rest >> 16, (rest >> 8) & 0xff, rest & 0xff]))
    }
  }
}
