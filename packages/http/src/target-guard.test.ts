import { isIP } from 'node:net'
import { FetchError } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import {
  createTargetGuard,
  type DnsLookup,
  hostKey,
  parseTarget,
  type TargetGuardOptions,
} from './target-guard.js'

/** A resolver with fixed answers per host name; anything else is NXDOMAIN. Records every call. */
function fakeLookup(answers: Record<string, string[] | string>) {
  const calls: string[] = []
  const lookup: DnsLookup = (hostname, _options, callback) => {
    calls.push(hostname)
    const answer = answers[hostname]
    if (typeof answer === 'string') {
      callback(Object.assign(new Error(`getaddrinfo ${answer} ${hostname}`), { code: answer }), [])
    } else if (answer === undefined) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
    } else {
      callback(
        null,
        answer.map((address) => ({ address, family: isIP(address) })),
      )
    }
  }
  return { lookup, calls }
}

function guardFor(answers: Record<string, string[] | string>, options: Partial<TargetGuardOptions> = {}) {
  const { lookup, calls } = fakeLookup(answers)
  const guard = createTargetGuard({ allowPrivateNetworks: false, allowedHosts: [], lookup, ...options })
  const check = (url: string) => guard(parseTarget(url), `GET ${url}`, new AbortController().signal)
  return { check, calls }
}

async function rejection(promise: Promise<unknown>): Promise<FetchError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(outcome).toBeInstanceOf(FetchError)
  return outcome as FetchError
}

describe('parseTarget', () => {
  it.each([
    'file:///etc/passwd',
    'data:text/plain,hello',
    'ftp://example.com/file',
    'gopher://example.com:70/_GET',
    'javascript:alert(1)',
    'ws://example.com/socket',
    'dict://127.0.0.1:11211/stats',
  ])('refuses %s as a forbidden scheme', (url) => {
    expect(() => parseTarget(url)).toThrow(
      expect.objectContaining({ code: 'fetch.forbidden_scheme', retryable: false }),
    )
  })

  it.each([
    '',
    'not a url',
    '/relative/path',
    'http://',
    'http://exa mple.com/',
    'http://1.2.3.08/',
    'http://[::1/',
  ])('refuses %j as an invalid URL', (url) => {
    expect(() => parseTarget(url)).toThrow(
      expect.objectContaining({ code: 'fetch.invalid_url', retryable: false }),
    )
  })

  it('resolves a redirect against the URL it came from and names that request in errors', () => {
    const from = { url: new URL('https://a.example/x/y'), target: 'GET https://a.example/x/y' }
    expect(parseTarget('../z?q=1', from).href).toBe('https://a.example/z?q=1')
    expect(() => parseTarget('file:///etc/passwd', from)).toThrow(
      '[sluice:fetch] GET https://a.example/x/y redirected to a file: URL: only http: and https: URLs can be fetched',
    )
  })
})

describe('hostKey', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['::1', '[::1]'],
    ['[0:0:0:0:0:0:0:1]', '[::1]'],
    ['0x7f.1', '127.0.0.1'],
  ])('spells %s as URLs do: %s', (input, key) => {
    expect(hostKey(input)).toBe(key)
  })

  it.each([
    'http://example.com',
    'example.com:8080',
    'example.com/path',
    'user@example.com',
    '',
    'exa mple.com',
  ])('refuses %j, which is not a bare host', (input) => {
    expect(hostKey(input)).toBeUndefined()
  })
})

describe('the SSRF guard', () => {
  // Odd spellings WHATWG URL parsing turns into a blocked literal, so no DNS lookup happens.
  it.each([
    ['http://127.0.0.1/'],
    ['http://127.0.0.1.:8080/'],
    ['http://2130706433/'],
    ['http://0x7f000001/'],
    ['http://0x7F.0.0.1/'],
    ['http://0177.0.0.1/'],
    ['http://017700000001/'],
    ['http://127.1/'],
    ['http://127.0.1/'],
    ['http://0/'],
    ['http://0.0.0.0/'],
    ['http://10.1.2.3/'],
    ['http://100.64.0.1/'],
    ['http://169.254.169.254/latest/meta-data/'],
    ['http://0xa9fea9fe/'],
    ['http://2852039166/'],
    ['http://172.16.5.4/'],
    ['http://192.0.0.8/'],
    ['http://192.168.1.1/'],
    ['http://198.18.0.1/'],
    ['http://224.0.0.1/'],
    ['http://240.0.0.1/'],
    ['http://255.255.255.255/'],
    ['http://[::]/'],
    ['http://[::1]/'],
    ['http://[0:0:0:0:0:0:0:1]/'],
    ['http://[::ffff:127.0.0.1]/'],
    ['http://[::ffff:7f00:1]/'],
    ['http://[::ffff:169.254.169.254]/'],
    ['http://[64:ff9b::7f00:1]/'],
    ['http://[64:ff9b::10.0.0.1]/'],
    ['http://[::127.0.0.1]/'],
    ['http://[fc00::1]/'],
    ['http://[fd00:ec2::254]/'],
    ['http://[fe80::1]/'],
    ['http://[ff02::1]/'],
    ['https://[::1]:8443/'],
  ])('refuses %s without a DNS lookup', async (url) => {
    const { check, calls } = guardFor({})
    const error = await rejection(check(url))
    expect(error).toMatchObject({ code: 'fetch.forbidden_address', retryable: false })
    expect(calls).toEqual([])
  })

  it('says what was refused, why, and which option an operator can use', async () => {
    const { check } = guardFor({})
    const error = await rejection(check('http://2130706433/admin'))
    expect(error.message).toBe(
      '[sluice:fetch] refused GET http://2130706433/admin: 127.0.0.1 is in 127.0.0.0/8 (loopback). ' +
        'Requests may not reach loopback, private, link-local or cloud metadata addresses; an operator ' +
        'who trusts 127.0.0.1 can add the host to allowedHosts, or set allowPrivateNetworks',
    )
  })

  it('names the host and the address it resolved to', async () => {
    const { check } = guardFor({ 'intranet.example': ['10.0.0.7'] })
    const error = await rejection(check('https://intranet.example/'))
    expect(error.message).toContain(
      'intranet.example resolves to 10.0.0.7, which is in 10.0.0.0/8 (private network)',
    )
  })

  it('lets a public literal through without a DNS lookup', async () => {
    const { check, calls } = guardFor({})
    expect(await check('http://8.8.8.8/')).toEqual([{ address: '8.8.8.8', family: 4 }])
    expect(await check('http://[2606:4700:4700::1111]/')).toEqual([
      { address: '2606:4700:4700::1111', family: 6 },
    ])
    expect(calls).toEqual([])
  })

  it('resolves a host name once and returns every checked address to pin the connection to', async () => {
    const { check, calls } = guardFor({ 'api.example': ['93.184.216.34', '2606:2800:220:1::1'] })
    expect(await check('https://api.example/v1')).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ])
    expect(calls).toEqual(['api.example'])
  })

  it.each([
    ['a private IPv4 address last', ['93.184.216.34', '1.1.1.1', '192.168.0.10']],
    ['a private IPv4 address first', ['10.0.0.1', '93.184.216.34']],
    ['loopback IPv6 among IPv4', ['93.184.216.34', '::1']],
    ['an IPv4-mapped loopback address', ['93.184.216.34', '::ffff:127.0.0.1']],
    ['the metadata address', ['93.184.216.34', '169.254.169.254']],
  ])('refuses a DNS answer with %s among public ones', async (_label, addresses) => {
    const { check } = guardFor({ 'rebind.example': addresses })
    const error = await rejection(check('http://rebind.example/'))
    expect(error).toMatchObject({ code: 'fetch.forbidden_address', retryable: false })
  })

  it('refuses an answer that is not an IP address rather than trusting it', async () => {
    const { check } = guardFor({ 'odd.example': ['localhost'] })
    const error = await rejection(check('http://odd.example/'))
    expect(error).toMatchObject({ code: 'fetch.dns_failed', retryable: false })
  })

  it.each([
    ['ENOTFOUND', 'fetch.dns_failed'],
    ['EAI_AGAIN', 'fetch.dns_failed'],
  ])('maps a resolver %s to a retryable %s', async (code, expected) => {
    const { check } = guardFor({ 'flaky.example': code })
    const error = await rejection(check('http://flaky.example/'))
    expect(error).toMatchObject({ code: expected, retryable: true })
    expect(error.message).toContain('GET http://flaky.example/')
  })

  it('treats an empty answer as a retryable DNS failure', async () => {
    const { check } = guardFor({ 'empty.example': [] })
    expect(await rejection(check('http://empty.example/'))).toMatchObject({
      code: 'fetch.dns_failed',
      retryable: true,
    })
  })

  it('rejects with the deadline reason when the lookup outlasts it', async () => {
    const never: DnsLookup = () => {}
    const guard = createTargetGuard({ allowPrivateNetworks: false, allowedHosts: [], lookup: never })
    const deadline = new AbortController()
    const pending = guard(parseTarget('http://slow.example/'), 'GET http://slow.example/', deadline.signal)
    const reason = new FetchError('too slow', { retryable: true, code: 'fetch.timeout' })
    deadline.abort(reason)
    await expect(pending).rejects.toBe(reason)
  })

  it.each([
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA.google.internal./',
    'http://metadata.goog/',
  ])('refuses %s by name, before any lookup and even with private networks allowed', async (url) => {
    const { check, calls } = guardFor({}, { allowPrivateNetworks: true })
    const error = await rejection(check(url))
    expect(error).toMatchObject({ code: 'fetch.forbidden_address', retryable: false })
    expect(error.message).toContain('allowPrivateNetworks does not cover metadata endpoints')
    expect(calls).toEqual([])
  })

  describe('with allowPrivateNetworks', () => {
    it('lets loopback, private and link-local targets through', async () => {
      const { check } = guardFor({ 'db.internal': ['10.0.0.5', 'fd00::5'] }, { allowPrivateNetworks: true })
      expect(await check('http://127.0.0.1:8080/')).toEqual([{ address: '127.0.0.1', family: 4 }])
      expect(await check('http://[::1]/')).toEqual([{ address: '::1', family: 6 }])
      expect(await check('http://169.254.10.10/')).toHaveLength(1)
      expect(await check('http://db.internal/')).toHaveLength(2)
    })

    it.each([
      'http://169.254.169.254/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://[fd00:ec2::254]/',
      'http://168.63.129.16/',
    ])('still refuses the metadata endpoint %s', async (url) => {
      const { check } = guardFor({}, { allowPrivateNetworks: true })
      const error = await rejection(check(url))
      expect(error).toMatchObject({ code: 'fetch.forbidden_address' })
      expect(error.message).toContain('metadata')
    })
  })

  describe('with allowedHosts', () => {
    it('lets a listed host name through whatever it resolves to, and nothing else', async () => {
      const { check } = guardFor(
        { 'hooks.internal': ['10.0.0.9', '127.0.0.1'], 'other.internal': ['10.0.0.9'] },
        { allowedHosts: ['Hooks.Internal.'] },
      )
      expect(await check('http://hooks.internal:9000/')).toHaveLength(2)
      await expect(check('http://other.internal/')).rejects.toMatchObject({ code: 'fetch.forbidden_address' })
      await expect(check('http://127.0.0.1/')).rejects.toMatchObject({ code: 'fetch.forbidden_address' })
    })

    it('lets a listed address through, however the URL or the resolver spells it', async () => {
      const { check } = guardFor(
        {
          'db.internal': ['10.0.0.5'],
          'v6.internal': ['0:0:0:0:0:0:0:1'],
          'mixed.internal': ['10.0.0.5', '10.0.0.6'],
        },
        { allowedHosts: ['10.0.0.5', '[::1]'] },
      )
      expect(await check('http://db.internal/')).toEqual([{ address: '10.0.0.5', family: 4 }])
      expect(await check('http://167772165/')).toEqual([{ address: '10.0.0.5', family: 4 }])
      expect(await check('http://v6.internal/')).toHaveLength(1)
      expect(await check('http://[0::1]/')).toHaveLength(1)
      // Every address must pass: one listed address does not vouch for another.
      await expect(check('http://mixed.internal/')).rejects.toMatchObject({ code: 'fetch.forbidden_address' })
    })

    it('reaches a metadata endpoint only when it is listed itself', async () => {
      const { check } = guardFor({}, { allowedHosts: ['metadata.google.internal', '169.254.169.254'] })
      await expect(check('http://169.254.169.254/')).resolves.toHaveLength(1)
      const { check: checkByName } = guardFor(
        { 'metadata.google.internal': ['169.254.169.254'] },
        { allowedHosts: ['metadata.google.internal'] },
      )
      await expect(checkByName('http://metadata.google.internal/')).resolves.toHaveLength(1)
    })

    it.each([['http://example.com'], ['example.com:8080'], ['example.com/path'], [''], [42]])(
      'refuses the entry %j when the guard is created',
      (entry) => {
        const { lookup } = fakeLookup({})
        expect(() =>
          createTargetGuard({ allowPrivateNetworks: false, allowedHosts: [entry as string], lookup }),
        ).toThrow(expect.objectContaining({ code: 'fetch.invalid_option', retryable: false }))
      },
    )
  })
})
