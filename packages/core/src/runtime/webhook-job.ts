import type { NewJob } from '../ports/job-queue.js'

/**
 * Turns what `composeWebhook` returned for an event into its delivery job: null when the plugin
 * sent nothing (`null`/`undefined`), or the problem with what it returned.
 */
export function webhookDeliveryJob(
  configId: number,
  eventUuid: string,
  value: unknown,
  now: number,
): { job: NewJob } | { problem: string } | null {
  const hook = value as { url?: unknown; body?: unknown } | null | undefined
  if (hook === null || hook === undefined) return null
  if (typeof hook !== 'object' || typeof hook.url !== 'string' || typeof hook.body !== 'string') {
    return {
      problem: `composeWebhook returned an invalid webhook for event ${eventUuid}: it needs a string url and a string body`,
    }
  }
  return {
    job: {
      kind: 'webhook',
      configId,
      name: 'composeWebhook',
      payload: JSON.stringify(hook),
      runAt: now,
      attempt: 0,
    },
  }
}
