// The standard (WinterCG) globals core relies on, present in Node, Deno, Bun and browsers. Declared
// here because core compiles without DOM or Node type libraries, to stay runtime-neutral.

declare class URLSearchParams {
  constructor(init?: string | Record<string, string>)
  set(name: string, value: string): void
  get(name: string): string | null
  toString(): string
}

declare class URL {
  constructor(url: string, base?: string | URL)
  readonly href: string
  readonly protocol: string
  readonly hostname: string
  readonly pathname: string
  readonly searchParams: URLSearchParams
  toString(): string
}

declare class TextEncoder {
  encode(input?: string): Uint8Array
}

declare class TextDecoder {
  constructor(label?: string)
  decode(input?: Uint8Array): string
}
