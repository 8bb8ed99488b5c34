import type { LookupAddress, LookupAllOptions } from 'node:dns'
import { isIP } from 'node:net'
import { FetchError } from '@sluice/core'
import { classifyAddress, METADATA_HOST_NAMES } from './address-policy.js'
import { mapRequestError } from './fetch-errors.js'

/**
 * A DNS resolver with the shape of `dns.lookup(hostname, { all: true }, callback)`, which is the
 * default; tests inject one to simulate public and private answers.
 */
export type DnsLookup = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void

/** What the guard lets through beyond public addresses. */
export interface TargetGuardOptions {
  /** Lets loopback, private, link-local and reserved addresses through; metadata endpoints stay refused. */
  allowPrivateNetworks: boolean
  /** Host names and IP addresses let through whatever they are or resolve to. */
  allowedHosts: readonly string[]
  /** Resolves host names; its answers are checked, then returned for pinning. */
  lookup: DnsLookup
}

/**
 * Resolves a request target once and checks every address, returning the checked addresses the
 * connection must be pinned to (so a second DNS answer cannot swap them).
 */
export type TargetGuard = (url: URL, target: string, signal: AbortSignal) => Promise<LookupAddress[]>

/** Where a redirect came from, to resolve its `Location` against and to name in errors. */
export interface RedirectSource {
  /** The URL that answered with the redirect. */
  url: URL
  /** That request as errors name it (see `describeTarget`). */
  target: string
}

/**
 * Parses a request URL with WHATWG rules, which also turn odd IPv4 spellings (`2130706433`,
 * `0x7f000001`, `0177.0.0.1`, `127.1`) into dotted quads. Only `http:` and `https:` pass.
 * @param from set when `url` is a redirect's `Location`
 */
export function parseTarget(url: string, from?: RedirectSource): URL {
  const context = from ? `${from.target} redirected to ` : ''
  let parsed: URL
  try {
    parsed = new URL(url, from?.url)
  } catch (cause) {
    const shown = url.length > 200 ? `${url.slice(0, 200)}…` : url
    throw new FetchError(`${context}'${shown}', which is not a valid URL`, {
      retryable: false,
      code: 'fetch.invalid_url',
      cause,
    })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FetchError(`${context}a ${parsed.protocol} URL: only http: and https: URLs can be fetched`, {
      retryable: false,
      code: 'fetch.forbidden_scheme',
    })
  }
  return parsed
}

/**
 * Normalises a host name or IP address the way URLs spell hosts (lower case, punycode, canonical
 * IPv6 in brackets, no trailing dot), so allow-list entries, URL hosts and resolved addresses
 * compare equal. Returns `undefined` for anything that is not a bare host.
 */
export function hostKey(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  try {
    const parsed = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`)
    const isBareHost =
      parsed.port === '' &&
      parsed.pathname === '/' &&
      parsed.search === '' &&
      parsed.hash === '' &&
      parsed.username === '' &&
      parsed.password === ''
    return isBareHost && parsed.hostname ? parsed.hostname.replace(/\.$/, '') : undefined
  } catch {
    return undefined
  }
}

/**
 * Creates the SSRF guard. A target is refused if its host is a metadata service name, or if ANY
 * address it resolves to is not public, unless the operator allowed it: by host name or address
 * in `allowedHosts`, or, for every non-metadata range, with `allowPrivateNetworks`.
 */
export function createTargetGuard(options: TargetGuardOptions): TargetGuard {
  const allowed = new Set<string>()
  for (const entry of options.allowedHosts) {
    const key = typeof entry === 'string' ? hostKey(entry) : undefined
    if (key === undefined) {
      throw new FetchError(
        `allowedHosts entry ${JSON.stringify(entry)} is not a host name or IP address (no scheme, port or path)`,
        { retryable: false, code: 'fetch.invalid_option' },
      )
    }
    allowed.add(key)
  }

  const refuse = (url: URL, target: string, what: string, metadata: boolean) => {
    const how = metadata
      ? 'add the host to allowedHosts (allowPrivateNetworks does not cover metadata endpoints)'
      : 'add the host to allowedHosts, or set allowPrivateNetworks'
    return new FetchError(
      `refused ${target}: ${what}. Requests may not reach loopback, private, link-local or cloud ` +
        `metadata addresses; an operator who trusts ${url.hostname} can ${how}`,
      { retryable: false, code: 'fetch.forbidden_address' },
    )
  }

  return async (url, target, signal) => {
    const host = hostKey(url.hostname) ?? url.hostname
    const hostAllowed = allowed.has(host)
    if (!hostAllowed && METADATA_HOST_NAMES.has(host)) {
      throw refuse(url, target, `${host} is a cloud metadata service`, true)
    }
    const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const family = isIP(literal)
    const addresses =
      family === 0
        ? await resolve(options.lookup, url.hostname, target, signal)
        : [{ address: literal, family }]
    const checked: LookupAddress[] = []
    for (const { address } of addresses) {
      const verdict = classifyAddress(address)
      if (verdict.kind === 'invalid') {
        throw new FetchError(`${target}: the resolver answered '${address}', which is not an IP address`, {
          retryable: false,
          code: 'fetch.dns_failed',
        })
      }
      const permitted =
        verdict.kind === 'public' ||
        hostAllowed ||
        allowed.has(hostKey(address) ?? address) ||
        (verdict.kind === 'private' && options.allowPrivateNetworks)
      if (!permitted) {
        const what = family === 0 ? `${url.hostname} resolves to ${address}, which is` : `${address} is`
        throw refuse(url, target, `${what} ${verdict.reason}`, verdict.kind === 'metadata')
      }
      // The family comes from the address itself: the connection must not trust the resolver's label.
      checked.push({ address, family: isIP(address) })
    }
    return checked
  }
}

function resolve(
  lookup: DnsLookup,
  hostname: string,
  target: string,
  signal: AbortSignal,
): Promise<LookupAddress[]> {
  return new Promise((resolvePromise, reject) => {
    // DNS lookups cannot be cancelled; the deadline settles the promise and a late answer is ignored.
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    const settle = (error: unknown, addresses?: LookupAddress[]) => {
      signal.removeEventListener('abort', onAbort)
      if (error) return reject(mapRequestError(error, target))
      if (!addresses || addresses.length === 0) {
        return reject(
          new FetchError(`${target}: ${hostname} has no addresses`, {
            retryable: true,
            code: 'fetch.dns_failed',
          }),
        )
      }
      resolvePromise(addresses)
    }
    try {
      lookup(hostname, { all: true }, settle)
    } catch (error) {
      settle(error)
    }
  })
}
