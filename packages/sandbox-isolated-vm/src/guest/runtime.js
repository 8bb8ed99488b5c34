// The plugin-side runtime, evaluated in every plugin context before any plugin code. Its completion
// value is a factory the host calls once with the bridge callback and the instance's settings.
//
// Trust model: this file runs in the same realm as the plugin, so the plugin can tamper with
// anything here. The host therefore trusts nothing that comes back: only strings cross the
// boundary, and the host re-validates every request. What this file guarantees is the API plugins
// expect; what keeps the host safe is the boundary itself.
;(function createGuestRuntime(bridge, settingsJson) {
  // biome-ignore lint/suspicious/noRedundantUseStrict: this file runs as a classic script, not a module: strict mode keeps the runtime's functions out of reach of plugin code walking `.caller`
  'use strict'
  const parse = JSON.parse
  const stringify = JSON.stringify
  const now = Date.now
  const NativeDate = Date
  const NumberIsNaN = Number.isNaN
  const freeze = Object.freeze
  const hasOwn = (object, key) => Object.hasOwn(object, key)
  const ownDescriptor = Object.getOwnPropertyDescriptor
  const objectHasOwn = Object.hasOwn
  const settings = parse(settingsJson)
  const MAX_LOG_CHARS = settings.maxLogChars
  const MAX_OUTPUT_CHARS = settings.maxOutputChars
  const MAX_FAILURE_CHARS = settings.maxFailureChars
  const TEAM_ID_CHANGED = settings.teamIdChanged

  // ---- errors ----------------------------------------------------------------------------------

  class RetryError extends Error {
    constructor(message) {
      super(message)
      this.name = 'RetryError'
      this._isRetryError = true
    }
  }

  class TimeoutError extends Error {
    constructor(message) {
      super(message)
      this.name = 'TimeoutError'
      this._isRetryError = true
      this._isTimeout = true
    }
  }

  class FetchError extends Error {
    constructor(message, type) {
      super(message)
      this.name = 'FetchError'
      this.type = type || 'system'
    }
  }

  const errorTypes = { TypeError, RangeError, SyntaxError }

  /** Rebuilds an error the host reported, in this realm. */
  function hostError(report) {
    const Type = errorTypes[report.name] || Error
    const error = new Type(report.message)
    if (!errorTypes[report.name]) error.name = report.name
    if (report.retryable) error._isRetryError = true
    return error
  }

  // ---- the bridge ------------------------------------------------------------------------------

  // Top-level undefined arguments are listed separately: JSON would turn them into null.
  function encodeArgs(args) {
    const undefinedAt = []
    for (let i = 0; i < args.length; i++) if (args[i] === undefined) undefinedAt.push(i)
    return stringify({ args, undefinedAt })
  }

  function callSync(op, args) {
    const reply = parse(bridge(op, 0, encodeArgs(args)))
    if (!reply.ok) throw hostError(reply.error)
    return reply.value
  }

  const pendingHostCalls = new Map()
  let nextHostCall = 0

  function callAsync(op, args) {
    return new Promise((resolve, reject) => {
      const id = ++nextHostCall
      pendingHostCalls.set(id, { resolve, reject })
      try {
        bridge(op, id, encodeArgs(args))
      } catch (error) {
        pendingHostCalls.delete(id)
        reject(error)
      }
    })
  }

  function settle(id, replyJson) {
    const pending = pendingHostCalls.get(id)
    if (!pending) return
    pendingHostCalls.delete(id)
    const reply = parse(replyJson)
    if (reply.ok) pending.resolve(reply.value)
    else pending.reject(hostError(reply.error))
  }

  // ---- text, base64 and Buffer -----------------------------------------------------------------

  function utf8Encode(text) {
    const out = []
    for (let i = 0; i < text.length; i++) {
      let code = text.charCodeAt(i)
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
        const next = text.charCodeAt(i + 1)
        if (next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
          i++
        } else code = 0xfffd
      } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd
      if (code < 0x80) out.push(code)
      else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63))
      else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63))
      else
        out.push(
          0xf0 | (code >> 18),
          0x80 | ((code >> 12) & 63),
          0x80 | ((code >> 6) & 63),
          0x80 | (code & 63),
        )
    }
    return out
  }

  function utf8Decode(bytes, start, end) {
    let text = ''
    let chunk = []
    for (let i = start; i < end; ) {
      const byte = bytes[i]
      let code = 0xfffd
      let size = 1
      if (byte < 0x80) code = byte
      else if (byte >= 0xc2 && byte < 0xe0 && i + 1 < end && (bytes[i + 1] & 0xc0) === 0x80) {
        code = ((byte & 31) << 6) | (bytes[i + 1] & 63)
        size = 2
      } else if (
        byte >= 0xe0 &&
        byte < 0xf0 &&
        i + 2 < end &&
        (bytes[i + 1] & 0xc0) === 0x80 &&
        (bytes[i + 2] & 0xc0) === 0x80
      ) {
        const value = ((byte & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63)
        if (value >= 0x800 && (value < 0xd800 || value > 0xdfff)) {
          code = value
          size = 3
        }
      } else if (
        byte >= 0xf0 &&
        byte < 0xf5 &&
        i + 3 < end &&
        (bytes[i + 1] & 0xc0) === 0x80 &&
        (bytes[i + 2] & 0xc0) === 0x80 &&
        (bytes[i + 3] & 0xc0) === 0x80
      ) {
        const value =
          ((byte & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63)
        if (value >= 0x10000 && value <= 0x10ffff) {
          code = value
          size = 4
        }
      }
      i += size
      if (code > 0xffff) {
        code -= 0x10000
        chunk.push(0xd800 + (code >> 10), 0xdc00 + (code & 1023))
      } else chunk.push(code)
      if (chunk.length >= 4096) {
        text += String.fromCharCode.apply(null, chunk)
        chunk = []
      }
    }
    return text + String.fromCharCode.apply(null, chunk)
  }

  const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const BASE64_LOOKUP = new Int16Array(128).fill(-1)
  for (let i = 0; i < 64; i++) BASE64_LOOKUP[BASE64.charCodeAt(i)] = i
  BASE64_LOOKUP[45] = 62 // '-' of base64url
  BASE64_LOOKUP[95] = 63 // '_' of base64url

  function base64Encode(bytes, url) {
    let out = ''
    let i = 0
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + BASE64[n & 63]
    }
    if (i < bytes.length) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8)
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63]
      out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63] : url ? '' : '='
      if (!url) out += '='
    }
    return url ? out.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : out
  }

  // Lenient like Node: skips characters outside the alphabet and stops at padding.
  function base64Decode(text) {
    const out = []
    let bits = 0
    let value = 0
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code === 61) break
      const digit = code < 128 ? BASE64_LOOKUP[code] : -1
      if (digit < 0) continue
      value = (value << 6) | digit
      bits += 6
      if (bits >= 8) {
        bits -= 8
        out.push((value >> bits) & 255)
      }
    }
    return out
  }

  function latin1Encode(text) {
    const out = new Array(text.length)
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 255
    return out
  }

  function latin1Decode(bytes, start, end) {
    let text = ''
    for (let i = start; i < end; i += 4096) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)))
    }
    return text
  }

  function normaliseEncoding(encoding) {
    const name = String(encoding === undefined ? 'utf8' : encoding).toLowerCase()
    switch (name) {
      case 'utf8':
      case 'utf-8':
        return 'utf8'
      case 'hex':
      case 'base64':
      case 'base64url':
      case 'ascii':
        return name
      case 'latin1':
      case 'binary':
        return 'latin1'
      default:
        throw new TypeError(`Unknown encoding: ${encoding}`)
    }
  }

  function encodeString(text, encoding) {
    switch (normaliseEncoding(encoding)) {
      case 'utf8':
        return utf8Encode(text)
      case 'hex': {
        const out = []
        for (let i = 0; i + 1 < text.length; i += 2) {
          const byte = Number.parseInt(text.slice(i, i + 2), 16)
          if (Number.isNaN(byte)) break
          out.push(byte)
        }
        return out
      }
      case 'base64':
      case 'base64url':
        return base64Decode(text)
      default:
        return latin1Encode(text)
    }
  }

  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === 'string') return Buffer._of(encodeString(value, encodingOrOffset))
      if (value instanceof ArrayBuffer) {
        const offset = encodingOrOffset ?? 0
        return new Buffer(value, offset, length ?? value.byteLength - offset)
      }
      if (ArrayBuffer.isView(value)) {
        return Buffer._of(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      }
      if (Array.isArray(value)) return Buffer._of(value)
      if (value && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer._of(value.data)
      throw new TypeError(
        'The first argument must be of type string, Buffer, ArrayBuffer, Array, or Array-like Object',
      )
    }
    static _of(bytes) {
      const buffer = new Buffer(bytes.length)
      buffer.set(bytes)
      return buffer
    }
    static alloc(size, fill) {
      const buffer = new Buffer(size)
      if (fill !== undefined) buffer.fill(typeof fill === 'string' ? (encodeString(fill)[0] ?? 0) : fill)
      return buffer
    }
    static isBuffer(value) {
      return value instanceof Buffer
    }
    static isEncoding(encoding) {
      try {
        normaliseEncoding(encoding)
        return true
      } catch {
        return false
      }
    }
    static byteLength(value, encoding) {
      if (typeof value === 'string') return encodeString(value, encoding).length
      return value.byteLength
    }
    static concat(list, totalLength) {
      const length = totalLength ?? list.reduce((sum, item) => sum + item.length, 0)
      const out = new Buffer(length)
      let offset = 0
      for (const item of list) {
        if (offset >= length) break
        const part = item.length > length - offset ? item.subarray(0, length - offset) : item
        out.set(part, offset)
        offset += part.length
      }
      return out
    }
    toString(encoding, start, end) {
      const from = Math.max(0, start ?? 0)
      const to = Math.min(this.length, end ?? this.length)
      if (from >= to) return ''
      switch (normaliseEncoding(encoding)) {
        case 'utf8':
          return utf8Decode(this, from, to)
        case 'hex': {
          let out = ''
          for (let i = from; i < to; i++) out += (this[i] < 16 ? '0' : '') + this[i].toString(16)
          return out
        }
        case 'base64':
          return base64Encode(this.subarray(from, to), false)
        case 'base64url':
          return base64Encode(this.subarray(from, to), true)
        case 'ascii': {
          let out = ''
          for (let i = from; i < to; i++) out += String.fromCharCode(this[i] & 127)
          return out
        }
        default:
          return latin1Decode(this, from, to)
      }
    }
    slice(start, end) {
      return this.subarray(start, end)
    }
    subarray(start, end) {
      const view = Uint8Array.prototype.subarray.call(this, start, end)
      return new Buffer(view.buffer, view.byteOffset, view.length)
    }
    equals(other) {
      if (!(other instanceof Uint8Array) || other.length !== this.length) return false
      for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false
      return true
    }
    toJSON() {
      return { type: 'Buffer', data: Array.from(this) }
    }
  }
  Object.defineProperty(Buffer, Symbol.species, { value: Buffer })

  const toBytes = (data, encoding) =>
    typeof data === 'string' ? Buffer.from(data, encoding) : Buffer.from(data)

  class TextEncoder {
    get encoding() {
      return 'utf-8'
    }
    encode(text = '') {
      return Uint8Array.from(utf8Encode(String(text)))
    }
  }

  class TextDecoder {
    constructor(label = 'utf-8') {
      if (!['utf-8', 'utf8', 'unicode-1-1-utf-8'].includes(String(label).toLowerCase())) {
        throw new RangeError(`The "${label}" encoding is not supported`)
      }
    }
    get encoding() {
      return 'utf-8'
    }
    decode(input) {
      if (input === undefined) return ''
      const bytes = ArrayBuffer.isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input)
      const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
      return utf8Decode(bytes, start, bytes.length)
    }
  }

  function btoa(text) {
    const value = String(text)
    for (let i = 0; i < value.length; i++) {
      if (value.charCodeAt(i) > 255) throw new Error('Invalid character')
    }
    return base64Encode(latin1Encode(value), false)
  }

  function atob(text) {
    const value = String(text).replace(/[\t\n\f\r ]/g, '')
    if (/[^A-Za-z0-9+/=]/.test(value) || value.length % 4 === 1) throw new Error('Invalid character')
    return latin1Decode(Uint8Array.from(base64Decode(value)), 0, base64Decode(value).length)
  }

  // ---- URL -------------------------------------------------------------------------------------

  class URLSearchParams {
    constructor(init) {
      this._list = []
      this._onChange = null
      if (init === undefined || init === null) return
      if (typeof init === 'string') this._parse(init)
      else if (init instanceof URLSearchParams) this._list = init._list.map((pair) => [pair[0], pair[1]])
      else if (typeof init === 'object' && typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) this._list.push([String(pair[0]), String(pair[1])])
      } else if (typeof init === 'object') {
        for (const key of Object.keys(init)) this._list.push([key, String(init[key])])
      }
    }
    _parse(text) {
      this._list = []
      const query = text.startsWith('?') ? text.slice(1) : text
      for (const part of query.split('&')) {
        if (part === '') continue
        const at = part.indexOf('=')
        const name = at < 0 ? part : part.slice(0, at)
        const value = at < 0 ? '' : part.slice(at + 1)
        this._list.push([decodeFormComponent(name), decodeFormComponent(value)])
      }
    }
    _update() {
      if (this._onChange) this._onChange(this.toString())
    }
    get size() {
      return this._list.length
    }
    append(name, value) {
      this._list.push([String(name), String(value)])
      this._update()
    }
    delete(name) {
      this._list = this._list.filter((pair) => pair[0] !== String(name))
      this._update()
    }
    get(name) {
      const pair = this._list.find((entry) => entry[0] === String(name))
      return pair ? pair[1] : null
    }
    getAll(name) {
      return this._list.filter((pair) => pair[0] === String(name)).map((pair) => pair[1])
    }
    has(name) {
      return this._list.some((pair) => pair[0] === String(name))
    }
    set(name, value) {
      const key = String(name)
      const index = this._list.findIndex((pair) => pair[0] === key)
      if (index < 0) this._list.push([key, String(value)])
      else {
        this._list[index][1] = String(value)
        this._list = this._list.filter((pair, i) => i <= index || pair[0] !== key)
      }
      this._update()
    }
    sort() {
      this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      this._update()
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this._list) callback.call(thisArg, value, name, this)
    }
    keys() {
      return this._list.map((pair) => pair[0])[Symbol.iterator]()
    }
    values() {
      return this._list.map((pair) => pair[1])[Symbol.iterator]()
    }
    entries() {
      return this._list.map((pair) => [pair[0], pair[1]])[Symbol.iterator]()
    }
    [Symbol.iterator]() {
      return this.entries()
    }
    toString() {
      return this._list
        .map((pair) => `${encodeFormComponent(pair[0])}=${encodeFormComponent(pair[1])}`)
        .join('&')
    }
  }

  function encodeFormComponent(text) {
    return encodeURIComponent(text)
      .replace(/%20/g, '+')
      .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  }

  function decodeFormComponent(text) {
    const spaced = text.replace(/\+/g, ' ')
    try {
      return decodeURIComponent(spaced)
    } catch {
      return spaced
    }
  }

  const URL_PARTS = [
    'href',
    'protocol',
    'username',
    'password',
    'host',
    'hostname',
    'port',
    'pathname',
    'search',
    'hash',
  ]

  class URL {
    constructor(input, base) {
      this._parts = callSync('url.parse', [String(input), base === undefined ? undefined : String(base)])
      this._searchParams = null
    }
    static canParse(input, base) {
      try {
        new URL(input, base)
        return true
      } catch {
        return false
      }
    }
    _set(part, value) {
      this._parts = callSync('url.set', [this._parts.href, part, String(value)])
      if (this._searchParams) this._searchParams._parse(this._parts.search)
    }
    get origin() {
      return this._parts.origin
    }
    get searchParams() {
      if (!this._searchParams) {
        const params = new URLSearchParams(this._parts.search)
        params._onChange = (query) => {
          this._parts = callSync('url.set', [this._parts.href, 'search', query])
        }
        this._searchParams = params
      }
      return this._searchParams
    }
    toString() {
      return this._parts.href
    }
    toJSON() {
      return this._parts.href
    }
  }
  for (const part of URL_PARTS) {
    Object.defineProperty(URL.prototype, part, {
      get() {
        return this._parts[part]
      },
      set(value) {
        this._set(part, value)
      },
    })
  }

  // ---- fetch -----------------------------------------------------------------------------------

  class Headers {
    constructor(init) {
      this._map = new Map()
      if (init instanceof Headers) for (const [k, v] of init) this._map.set(k, v)
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v)
      else if (init && typeof init === 'object') for (const k of Object.keys(init)) this.append(k, init[k])
    }
    append(name, value) {
      const key = String(name).toLowerCase()
      const previous = this._map.get(key)
      this._map.set(key, previous === undefined ? String(value) : `${previous}, ${value}`)
    }
    set(name, value) {
      this._map.set(String(name).toLowerCase(), String(value))
    }
    get(name) {
      const value = this._map.get(String(name).toLowerCase())
      return value === undefined ? null : value
    }
    has(name) {
      return this._map.has(String(name).toLowerCase())
    }
    delete(name) {
      this._map.delete(String(name).toLowerCase())
    }
    forEach(callback, thisArg) {
      for (const [k, v] of this._map) callback.call(thisArg, v, k, this)
    }
    keys() {
      return this._map.keys()
    }
    values() {
      return this._map.values()
    }
    entries() {
      return this._map.entries()
    }
    [Symbol.iterator]() {
      return this._map.entries()
    }
    raw() {
      const raw = {}
      for (const [k, v] of this._map) raw[k] = [v]
      return raw
    }
  }

  class Response {
    constructor(body, init = {}) {
      this._body = body === undefined || body === null ? '' : String(body)
      this.status = init.status ?? 200
      this.statusText = init.statusText ?? ''
      this.headers = new Headers(init.headers)
      this.url = init.url ?? ''
      this.bodyUsed = false
    }
    get ok() {
      return this.status >= 200 && this.status < 300
    }
    _consume() {
      if (this.bodyUsed) return Promise.reject(new TypeError('body used already'))
      this.bodyUsed = true
      return Promise.resolve(this._body)
    }
    text() {
      return this._consume()
    }
    json() {
      return this._consume().then((text) => JSON.parse(text))
    }
    arrayBuffer() {
      return this._consume().then((text) => {
        const bytes = utf8Encode(text)
        return Uint8Array.from(bytes).buffer
      })
    }
    buffer() {
      return this._consume().then((text) => Buffer.from(text))
    }
    clone() {
      return new Response(this._body, this)
    }
  }

  function bodyText(body) {
    if (body === undefined || body === null) return undefined
    if (typeof body === 'string') return body
    if (body instanceof URLSearchParams) return body.toString()
    if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8')
    if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8')
    return String(body)
  }

  function plainHeaders(headers) {
    const out = {}
    if (headers === undefined || headers === null) return out
    new Headers(headers).forEach((value, name) => {
      out[name] = value
    })
    return out
  }

  const toResponse = (reply, url) =>
    new Response(reply.body, {
      status: reply.status,
      statusText: reply.statusText,
      headers: reply.headers,
      url,
    })

  async function fetch(resource, init = {}) {
    const url =
      resource instanceof URL
        ? resource.href
        : typeof resource === 'object' && resource
          ? resource.url
          : String(resource)
    const request = { method: init.method, headers: plainHeaders(init.headers), body: bodyText(init.body) }
    try {
      return toResponse(await callAsync('fetch', [url, request]), url)
    } catch (error) {
      if (error && error.name === 'TypeError') throw error
      const failure = new FetchError(`request to ${url} failed, reason: ${error?.message}`, 'system')
      if (error?._isRetryError) failure._isRetryError = true
      throw failure
    }
  }
  fetch.default = fetch
  fetch.FetchError = FetchError
  fetch.Headers = Headers
  fetch.Response = Response

  // ---- console ---------------------------------------------------------------------------------

  function formatLogArgument(value) {
    if (typeof value === 'string') return value
    if (value instanceof Error) return value.stack || `${value.name}: ${value.message}`
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return String(value)
    try {
      const json = stringify(value)
      return json === undefined ? String(value) : json
    } catch {
      return String(value)
    }
  }

  function log(level, args) {
    let message = ''
    for (let i = 0; i < args.length && message.length <= MAX_LOG_CHARS; i++) {
      message += (i === 0 ? '' : ' ') + formatLogArgument(args[i])
    }
    if (message.length > MAX_LOG_CHARS) message = `${message.slice(0, MAX_LOG_CHARS)}… (truncated)`
    callSync('log', [level, message])
  }

  const console = freeze({
    log: (...args) => log('log', args),
    info: (...args) => log('info', args),
    warn: (...args) => log('warn', args),
    error: (...args) => log('error', args),
    debug: (...args) => log('debug', args),
  })

  // ---- allowed modules -------------------------------------------------------------------------

  function hashObject(op, algorithm, key) {
    const chunks = []
    const hash = {
      update(data, encoding) {
        chunks.push(toBytes(data, encoding))
        return hash
      },
      digest(encoding) {
        const data = Buffer.concat(chunks).toString('base64')
        const args =
          key === undefined
            ? [String(algorithm), data]
            : [String(algorithm), data, toBytes(key).toString('base64')]
        const digest = Buffer.from(callSync(op, args), 'base64')
        return encoding === undefined || encoding === 'buffer' ? digest : digest.toString(encoding)
      },
    }
    return hash
  }

  const crypto = freeze({
    createHash: (algorithm) => hashObject('crypto.hash', algorithm),
    createHmac: (algorithm, key) => hashObject('crypto.hmac', algorithm, key),
    randomBytes(size, callback) {
      const bytes = Buffer.from(callSync('crypto.randomBytes', [size]), 'base64')
      if (typeof callback === 'function') {
        Promise.resolve().then(() => callback(null, bytes))
        return undefined
      }
      return bytes
    },
    randomUUID: () => callSync('crypto.randomUUID', []),
    timingSafeEqual(a, b) {
      if (a.byteLength !== b.byteLength) throw new RangeError('Input buffers must have the same byte length')
      const left = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
      const right = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
      let difference = 0
      for (let i = 0; i < left.length; i++) difference |= left[i] ^ right[i]
      return difference === 0
    },
  })

  function zlibOperation(name) {
    const run = (data) => Buffer.from(callSync('zlib', [name, toBytes(data).toString('base64')]), 'base64')
    const callbackForm = (data, optionsOrCallback, maybeCallback) => {
      const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback
      let result
      let failure = null
      try {
        result = run(data)
      } catch (error) {
        failure = error
      }
      Promise.resolve().then(() => callback(failure, result))
    }
    return { sync: run, callback: callbackForm }
  }
  const gzip = zlibOperation('gzip')
  const gunzip = zlibOperation('gunzip')
  const deflate = zlibOperation('deflate')
  const inflate = zlibOperation('inflate')
  const zlib = freeze({
    gzipSync: gzip.sync,
    gunzipSync: gunzip.sync,
    deflateSync: deflate.sync,
    inflateSync: inflate.sync,
    gzip: gzip.callback,
    gunzip: gunzip.callback,
    deflate: deflate.callback,
    inflate: inflate.callback,
  })

  const url = freeze({
    URL,
    URLSearchParams,
    parse: (text, parseQuery) => {
      const parsed = callSync('url.legacyParse', [String(text)])
      if (parseQuery) {
        const query = {}
        new URLSearchParams(parsed.search || '').forEach((value, name) => {
          query[name] = hasOwn(query, name) ? [].concat(query[name], value) : value
        })
        parsed.query = query
      }
      return parsed
    },
  })

  class EventEmitter {
    constructor() {
      this._listeners = new Map()
    }
    on(name, listener) {
      if (!this._listeners.has(name)) this._listeners.set(name, [])
      this._listeners.get(name).push(listener)
      return this
    }
    once(name, listener) {
      const wrapper = (...args) => {
        this.off(name, wrapper)
        listener.apply(this, args)
      }
      return this.on(name, wrapper)
    }
    off(name, listener) {
      const list = this._listeners.get(name)
      if (list)
        this._listeners.set(
          name,
          list.filter((entry) => entry !== listener),
        )
      return this
    }
    emit(name, ...args) {
      const list = this._listeners.get(name)
      if (!list || list.length === 0) return false
      for (const listener of list.slice()) listener.apply(this, args)
      return true
    }
  }

  /** The `stream.PassThrough` subset plugins use: write/end, 'data'/'end' events, pipe. */
  class PassThrough extends EventEmitter {
    constructor() {
      super()
      this.writable = true
      this.readable = true
    }
    write(chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback
      this.emit(
        'data',
        typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : undefined)
          : chunk,
      )
      if (typeof done === 'function') Promise.resolve().then(() => done())
      return true
    }
    end(chunk, encoding, callback) {
      const done = [chunk, encoding, callback].find((arg) => typeof arg === 'function')
      if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk, encoding)
      this.writable = false
      this.emit('finish')
      this.emit('end')
      if (done) Promise.resolve().then(() => done())
      return this
    }
    pipe(destination) {
      this.on('data', (chunk) => destination.write(chunk))
      this.on('end', () => destination.end())
      return destination
    }
  }
  const stream = freeze({ PassThrough })

  /** `createBuffer` of @posthog/plugin-contrib: flushes on `limit` points or `flush()`. */
  function createBuffer(options) {
    const limit = options.limit ?? 1000
    const buffer = {
      points: 0,
      items: [],
      add(item, points = 1) {
        if (buffer.points + points > limit && buffer.items.length > 0) buffer.flush()
        buffer.items.push(item)
        buffer.points += points
        if (buffer.points >= limit) buffer.flush()
      },
      flush() {
        if (buffer.items.length === 0) return Promise.resolve()
        const items = buffer.items
        const points = buffer.points
        buffer.items = []
        buffer.points = 0
        return Promise.resolve(options.onFlush ? options.onFlush(items, points) : undefined)
      },
    }
    return buffer
  }

  const NODE_PREFIXED = ['crypto', 'url', 'zlib', 'stream']
  const builtinModules = {
    '@posthog/plugin-scaffold': freeze({ RetryError }),
    '@posthog/plugin-contrib': freeze({ createBuffer }),
    'node-fetch': fetch,
    crypto,
    url,
    zlib,
    stream,
  }

  // ---- plugin modules --------------------------------------------------------------------------

  const definitions = new Map()
  const moduleCache = new Map()

  function notAvailable(specifier) {
    return new Error(`Cannot import '${specifier}': this module is not available to plugins`)
  }

  function loadModule(path) {
    const cached = moduleCache.get(path)
    if (cached) return cached.exports
    const definition = definitions.get(path)
    const module = { exports: {} }
    moduleCache.set(path, module)
    const require = (specifier) => {
      const key = String(specifier)
      const builtin = key.startsWith('node:') && NODE_PREFIXED.includes(key.slice(5)) ? key.slice(5) : key
      if (hasOwn(builtinModules, builtin)) return builtinModules[builtin]
      if (hasOwn(definition.imports, key)) return loadModule(definition.imports[key])
      throw notAvailable(key)
    }
    const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : ''
    definition.body.call(
      module.exports,
      module.exports,
      require,
      module,
      `/plugin/${path}`,
      `/plugin/${folder}`,
    )
    return module.exports
  }

  // ---- meta ------------------------------------------------------------------------------------

  const api = (prefix, names) => {
    const out = {}
    for (const name of names) out[name] = (...args) => callAsync(`${prefix}.${name}`, args)
    return freeze(out)
  }

  function buildMeta(instance, exported) {
    const jobs = {}
    for (const name of Object.keys(exported.jobs)) {
      jobs[name] = (payload) => {
        const copy = payload === undefined ? undefined : parse(stringify(payload))
        return freeze({
          runNow: () => callAsync('jobs.enqueue', [name, copy, { kind: 'now' }]),
          runIn: (amount, unit) => callAsync('jobs.enqueue', [name, copy, { kind: 'in', amount, unit }]),
          runAt: (date) =>
            callAsync('jobs.enqueue', [
              name,
              copy,
              { kind: 'at', date: date instanceof Date ? date.getTime() : date },
            ]),
        })
      }
    }
    const metricMethods = (name) =>
      freeze({
        increment: (value) => callSync('metrics.update', [name, 'increment', value]),
        max: (value) => callSync('metrics.update', [name, 'max', value]),
        min: (value) => callSync('metrics.update', [name, 'min', value]),
      })
    const metrics = new Proxy(
      {},
      { get: (_target, name) => (typeof name === 'string' ? metricMethods(name) : undefined) },
    )
    const attachments = {}
    for (const key of Object.keys(instance.attachments)) {
      const attachment = instance.attachments[key]
      attachments[key] = {
        content_type: attachment.content_type,
        file_name: attachment.file_name,
        contents: Buffer.from(attachment.contents, 'base64'),
      }
    }
    return {
      config: instance.config,
      attachments,
      global: {},
      cache: api('cache', ['set', 'get', 'incr', 'expire', 'lpush', 'lrange', 'llen', 'lpop', 'lrem']),
      storage: api('storage', ['get', 'set', 'del']),
      utils: freeze({ cursor: api('cursor', ['init', 'increment']) }),
      jobs: freeze(jobs),
      metrics,
      geoip: freeze({ locate: (ip) => callAsync('geoip.locate', [ip]) }),
    }
  }

  const posthog = freeze({
    capture: (event, properties) => callAsync('posthog.capture', [event, properties]),
    api: freeze({
      get: (path, options) =>
        callAsync('posthog.api', ['GET', path, options]).then((r) => toResponse(r, path)),
      post: (path, options) =>
        callAsync('posthog.api', ['POST', path, options]).then((r) => toResponse(r, path)),
      put: (path, options) =>
        callAsync('posthog.api', ['PUT', path, options]).then((r) => toResponse(r, path)),
      delete: (path, options) =>
        callAsync('posthog.api', ['DELETE', path, options]).then((r) => toResponse(r, path)),
    }),
  })

  // ---- calls -----------------------------------------------------------------------------------

  function describeFailure(error) {
    let name = 'Error'
    let message = ''
    let stack
    let retry = false
    let timeout = false
    try {
      if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
        name = String(error.name ?? 'Error')
        message = String(error.message ?? '')
        if (typeof error.stack === 'string') stack = error.stack
        retry = error._isRetryError === true || name === 'RetryError'
        timeout = error._isTimeout === true
      } else {
        message = String(error)
      }
    } catch {
      message = 'the plugin threw a value that cannot be described'
    }
    // Cut to what the host keeps, before the failure counts against the batch's output limit.
    return {
      name: name.slice(0, MAX_FAILURE_CHARS.name),
      message: message.slice(0, MAX_FAILURE_CHARS.message),
      stack: stack === undefined ? undefined : stack.slice(0, MAX_FAILURE_CHARS.stack),
      retry,
      timeout,
    }
  }

  const failureOutcome = (error) => stringify({ ok: false, failure: describeFailure(error) })

  const inflight = new Set()
  const batches = new Map()
  let exported = null
  let meta = null

  function findExport(name) {
    if (name.startsWith('jobs.')) {
      const job = exported.jobs[name.slice(5)]
      return typeof job === 'function' ? job : null
    }
    return hasOwn(exported.functions, name) ? exported.functions[name] : null
  }

  /**
   * A call's outcome: a JSON string, or for a value in a text batch `{ json }`, the value's own JSON
   * (framed by `frameOutcomes`, so the host gets it without decoding the outcome around it).
   */
  function encodeValue(call, value, teamId) {
    if (call.guardsTeam && !keepsTeam(value, teamId)) return failureOutcome(new Error(TEAM_ID_CHANGED))
    const json = value === undefined ? undefined : stringify(value)
    if (json === undefined) return '{"ok":true}'
    if (json.length > MAX_OUTPUT_CHARS) {
      const error = new RangeError(
        `${call.fn} returned ${json.length} characters of JSON, over the ${MAX_OUTPUT_CHARS} limit`,
      )
      error.name = 'OutputLimitError'
      return failureOutcome(error)
    }
    // No prototype: a plugin that gives Object.prototype a `then` must not make this look like a promise.
    return call.text ? { __proto__: null, json } : `{"ok":true,"value":${json}}`
  }

  const inlineOutcome = (outcome) =>
    outcome === null ? 'null' : typeof outcome === 'string' ? outcome : `{"ok":true,"value":${outcome.json}}`

  /**
   * A text batch's result: the outcomes as a JSON array (values as `{"ok":true,"n":length}`), a
   * newline, then the values' JSON in call order. The values are concatenated rather than joined,
   * so the host copies them out of the isolate without a flat copy of the batch being made first.
   */
  function frameOutcomes(outcomes) {
    const heads = new Array(outcomes.length)
    let values = ''
    for (let index = 0; index < outcomes.length; index++) {
      const outcome = outcomes[index]
      if (typeof outcome === 'string') heads[index] = outcome
      else {
        heads[index] = `{"ok":true,"n":${outcome.json.length}}`
        values += outcome.json
      }
    }
    return `[${heads.join(',')}]\n${values}`
  }

  // composeWebhook receives a PostHogEvent (SPEC §4), whose `timestamp` is a Date. Only JSON
  // crosses the boundary, so the host's ISO string is turned back into a Date here.
  function reviveWebhookEvent(args) {
    const event = args[0]
    if (event !== null && typeof event === 'object') {
      const time = typeof event.timestamp === 'string' ? new NativeDate(event.timestamp) : null
      if (time !== null && !NumberIsNaN(time.getTime())) event.timestamp = time
    }
    return args
  }

  const asSent = (args) => args

  /**
   * Whether a processEvent result keeps the event's team_id (SPEC: a plugin that changes it fails).
   * Only objects are checked; the host reports other results. Read through the own descriptor, so
   * a getter cannot show one value here and another to `stringify`; a proxy still could, which is
   * why the host checks the chain's final result again.
   */
  function keepsTeam(value, teamId) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return true
    const descriptor = ownDescriptor(value, 'team_id')
    return descriptor !== undefined && objectHasOwn(descriptor, 'value') && descriptor.value === teamId
  }

  /** The argument event's team_id, read before the plugin can change the event in place. */
  function argumentTeam(call, args) {
    if (!call.guardsTeam) return undefined
    const event = args[0]
    if (event === null || typeof event !== 'object') return undefined
    const descriptor = ownDescriptor(event, 'team_id')
    return descriptor !== undefined && objectHasOwn(descriptor, 'value') ? descriptor.value : undefined
  }

  /**
   * How a batch calls `fn`: the plugin function, how its arguments are prepared, and whether its
   * results must keep the argument's team_id (processEvent in a text batch); null if not exported.
   */
  function callTarget(fn, text) {
    const target = findExport(fn)
    if (target === null) return null
    return {
      fn,
      text,
      target,
      prepare: fn === 'composeWebhook' ? reviveWebhookEvent : asSent,
      guardsTeam: text && fn === 'processEvent',
    }
  }

  function safeEncode(call, value, teamId) {
    try {
      return encodeValue(call, value, teamId)
    } catch (error) {
      return failureOutcome(error)
    }
  }

  const isThenable = (value) =>
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof value.then === 'function'

  // A promise result waits under a deadline that `expire` enforces; whichever settles first wins.
  function awaitWithDeadline(call, pending, timeoutMs, teamId) {
    return new Promise((resolve) => {
      const timer = {
        deadline: now() + timeoutMs,
        fire: () =>
          resolve(failureOutcome(new TimeoutError(`${call.fn} did not finish within ${timeoutMs} ms`))),
      }
      inflight.add(timer)
      const settleWith = (outcome) => {
        if (inflight.delete(timer)) resolve(outcome())
      }
      try {
        pending.then(
          (value) => settleWith(() => safeEncode(call, value, teamId)),
          (error) => settleWith(() => failureOutcome(error)),
        )
      } catch (error) {
        settleWith(() => failureOutcome(error))
      }
    })
  }

  /** Starts one call: its outcome, or a promise of it when the plugin returned a promise. */
  function startCall(call, request, index) {
    let value
    let teamId
    try {
      const args = call.prepare(request.argsAt(index))
      teamId = argumentTeam(call, args)
      value = call.target(...args, meta)
      if (isThenable(value)) return awaitWithDeadline(call, value, request.timeoutMs, teamId)
    } catch (error) {
      return failureOutcome(error)
    }
    return safeEncode(call, value, teamId)
  }

  // Runs a lane's calls in order from `position`, synchronously while they finish synchronously
  // (most processEvent calls do), so a batch of plain functions costs no promise per event.
  function runLane(state, request, call, indices, position) {
    for (let k = position; k < indices.length; k++) {
      if (state.abandoned) return undefined
      const index = indices[k]
      state.started[index] = true
      const outcome =
        call === null
          ? failureOutcome(new TypeError(`the plugin has no function '${request.fn}'`))
          : startCall(call, request, index)
      if (isThenable(outcome)) {
        return outcome.then((result) => {
          state.outcomes[index] = result
          return runLane(state, request, call, indices, k + 1)
        })
      }
      state.outcomes[index] = outcome
    }
    return undefined
  }

  /**
   * Decodes a batch request. A JSON batch lists its calls with their arguments; a text batch
   * (`texts` given) lists lanes and lengths, and each call's one argument is the JSON text at its
   * place in `texts`, parsed only when the call starts.
   */
  function readRequest(requestJson, texts) {
    const request = parse(requestJson)
    if (typeof texts !== 'string') {
      request.laneAt = (index) => request.calls[index].lane
      request.argsAt = (index) => request.calls[index].args
      request.count = request.calls.length
      return request
    }
    const offsets = new Array(request.lengths.length + 1)
    offsets[0] = 0
    for (let index = 0; index < request.lengths.length; index++) {
      offsets[index + 1] = offsets[index] + request.lengths[index]
    }
    request.text = true
    request.laneAt = (index) => request.lanes[index]
    request.argsAt = (index) => [parse(texts.slice(offsets[index], offsets[index + 1]))]
    request.count = request.lanes.length
    return request
  }

  /**
   * Runs one batch: calls in a lane run in order, lanes run concurrently. Returns the batch's
   * result (the JSON array of outcomes, or for a text batch `frameOutcomes`' framing) when every
   * call finished synchronously, as most processEvent batches do, so one crossing carries the
   * batch in and out; else null, and the host waits for the result with `wait`.
   *
   * Plugin code runs in this task, and isolated-vm fails a task in which a promise rejection is
   * left unhandled, whatever it returned. So a result stays here until the host says, in a later
   * request's `received`, that it has it; after such a failure the host fetches it with `wait`.
   */
  function run(requestJson, texts) {
    const request = readRequest(requestJson, texts)
    if (Array.isArray(request.received)) for (const batch of request.received) batches.delete(batch)
    const count = request.count
    const state = {
      outcomes: new Array(count).fill(null),
      started: new Array(count).fill(false),
      abandoned: false,
      result: undefined,
      pending: undefined,
    }
    batches.set(request.batch, state)
    const lanes = new Map()
    for (let index = 0; index < count; index++) {
      const key = request.laneAt(index)
      const lane = lanes.get(key)
      if (lane) lane.push(index)
      else lanes.set(key, [index])
    }
    const call = callTarget(request.fn, request.text === true)
    const waiting = []
    for (const indices of lanes.values()) {
      const pending = runLane(state, request, call, indices, 0)
      if (pending) waiting.push(pending)
    }
    const finish = () => {
      state.result = request.text ? frameOutcomes(state.outcomes) : `[${state.outcomes.join(',')}]`
      return state.result
    }
    if (waiting.length === 0) return finish()
    // Settles (with no result) once `collect` gives up on the batch, so a wait for it settles too;
    // the abandoned batch's calls may never finish, so its result is not framed.
    const abandoned = new Promise((resolve) => {
      state.abandon = () => resolve(null)
    })
    state.pending = Promise.race([Promise.all(waiting).then(finish), abandoned])
    return null
  }

  /**
   * The result of a batch that `run` did not return (it was still running, or its task failed on
   * a promise rejection the plugin left unhandled), once it is there; null for an unknown batch.
   */
  async function wait(batch) {
    const state = batches.get(batch)
    if (!state) return null
    try {
      return state.result ?? (state.pending ? await state.pending : null)
    } finally {
      batches.delete(batch)
    }
  }

  /**
   * Stops a batch the host had to abandon (a runaway interrupted it) and reports how far it got:
   * finished outcomes (`null` where unfinished) and which calls had started; or that it finished
   * after all (the runaway call's deadline failed it), its result kept for the host's `wait`.
   */
  function collect(batch) {
    const state = batches.get(batch)
    if (!state || state.result !== undefined) return '{"finished":true}'
    state.abandoned = true
    state.abandon?.()
    batches.delete(batch)
    return `{"outcomes":[${state.outcomes.map(inlineOutcome).join(',')}],"started":${stringify(state.started)}}`
  }

  /** Fails calls past their deadline; returns the next deadline, or -1. */
  function expire() {
    const current = now()
    let next = -1
    for (const timer of inflight) {
      if (timer.deadline <= current) {
        inflight.delete(timer)
        timer.fire()
      } else if (next < 0 || timer.deadline < next) next = timer.deadline
    }
    return next
  }

  function pick(source, name) {
    const value = source === null || source === undefined ? undefined : source[name]
    return value
  }

  /** Evaluates the entry module and binds `meta`. Returns what the plugin exports, as JSON. */
  function boot(entry, functionNamesJson, instanceJson) {
    const functionNames = parse(functionNamesJson)
    const moduleExports = loadModule(entry)
    const fallback = pick(moduleExports, 'default')
    const functions = {}
    for (const name of functionNames) {
      const own = pick(moduleExports, name)
      const candidate = typeof own === 'function' ? own : pick(fallback, name)
      if (typeof candidate === 'function') functions[name] = candidate
    }
    const jobs = pick(moduleExports, 'jobs') ?? pick(fallback, 'jobs') ?? {}
    const metrics = pick(moduleExports, 'metrics') ?? pick(fallback, 'metrics')
    exported = { functions, jobs: typeof jobs === 'object' && jobs !== null ? jobs : {} }
    const instance = parse(instanceJson)
    meta = buildMeta(instance, exported)
    let metricsJson
    try {
      metricsJson = metrics === undefined ? undefined : stringify(metrics)
    } catch {
      metricsJson = '"<not serialisable>"'
    }
    return stringify({
      functions: Object.keys(functions),
      jobs: Object.keys(exported.jobs).filter((name) => typeof exported.jobs[name] === 'function'),
      metrics: metricsJson === undefined ? undefined : parse(metricsJson),
    })
  }

  function define(path, body, importsJson) {
    definitions.set(path, { body, imports: parse(importsJson) })
  }

  // Not for plugins: WebAssembly memory lives outside the isolate's heap limit, and shared memory
  // with Atomics.wait could park the isolate's thread.
  for (const name of ['WebAssembly', 'SharedArrayBuffer', 'Atomics']) delete globalThis[name]

  const globals = {
    console,
    fetch,
    posthog,
    RetryError,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    Headers,
    Response,
    atob,
    btoa,
    Buffer,
  }
  for (const name of Object.keys(globals)) {
    Object.defineProperty(globalThis, name, { value: globals[name], writable: true, configurable: true })
  }

  return { define, boot, run, wait, settle, expire, collect }
})
