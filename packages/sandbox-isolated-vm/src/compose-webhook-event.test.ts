import { describe, expect, it } from 'vitest'
import { loadPlugin } from '../test/stack.js'

describe('composeWebhook', () => {
  // Regression: the event crossed the boundary as JSON, so `timestamp` reached the plugin as a
  // string although SPEC §4 gives composeWebhook a PostHogEvent whose timestamp is a Date.
  it('receives the event timestamp as a Date', async () => {
    const { instance, sandbox } = await loadPlugin({
      'index.js': `
        export function composeWebhook(event) {
          return {
            url: 'https://hooks.example/in',
            body: JSON.stringify({ isDate: event.timestamp instanceof Date, ms: event.timestamp.getTime() }),
          }
        }
      `,
    })
    const hook = await instance.call('composeWebhook', [
      {
        uuid: 'u1',
        team_id: 2,
        distinct_id: 'd',
        event: 'signed up',
        timestamp: '2026-11-21T12:00:00.000Z',
        properties: {},
      },
    ])
    expect(JSON.parse((hook as { body: string }).body)).toEqual({
      isDate: true,
      ms: Date.UTC(2026, 10, 21, 12),
    })
    await sandbox.close()
  })
})
