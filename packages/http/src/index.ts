export { createHttpFetch, type HttpFetchOptions } from './http-fetch.js'
export type { DnsLookup } from './target-guard.js'
