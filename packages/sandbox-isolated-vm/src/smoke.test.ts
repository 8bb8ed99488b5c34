import { describe, expect, it } from 'vitest'
import { loadPlugin } from '../test/stack.js'

describe('smoke', () => {
  it('runs processEvent', async () => {
    const { instance, loaded } = await loadPlugin({
      'index.ts': `
        import { RetryError } from '@posthog/plugin-scaffold'
        export const metrics = { seen: 'sum' }
        export async function processEvent(event: any, { cache, metrics }) {
          const n = await cache.incr('n')
          metrics.seen.increment(1)
          console.log('seen', n, { a: 1 })
          event.properties = { ...event.properties, n, url: new URL('https://x.com/a?b=1').searchParams.get('b'), b64: Buffer.from('hi').toString('base64') }
          return event
        }
        export function setupPlugin() {}
      `,
    })
    expect(loaded.capabilities.functions).toEqual(['setupPlugin', 'processEvent'])
    const result = await instance.callEach('processEvent', [
      { lane: 'a', args: [{ event: 'x', properties: {} }] },
      { lane: 'a', args: [{ event: 'y', properties: {} }] },
    ])
    expect(result).toEqual([
      { ok: true, value: { event: 'x', properties: { n: 1, url: '1', b64: 'aGk=' } } },
      { ok: true, value: { event: 'y', properties: { n: 2, url: '1', b64: 'aGk=' } } },
    ])
  })
})
