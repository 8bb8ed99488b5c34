/** Bytes of zeros between the search tree and the data section of a MaxMind DB file. */
export const DATA_SECTION_SEPARATOR = 16

/** The bytes that open a MaxMind DB file's metadata section: `\xAB\xCD\xEF` then `MaxMind.com`. */
export const METADATA_MARKER = Uint8Array.from([0xab, 0xcd, 0xef, ...new TextEncoder().encode('MaxMind.com')])
