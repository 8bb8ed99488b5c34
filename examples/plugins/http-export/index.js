// A PostHog plugin in JavaScript with ES module syntax. `RetryError` comes from
// @posthog/plugin-scaffold as in any PostHog plugin; Sluice provides it inside the sandbox.
import { RetryError } from '@posthog/plugin-scaffold'

export function setupPlugin({ config, global }) {
  let url
  try {
    url = new URL(config.url)
  } catch {
    throw new Error('url is not a valid URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`url must be an http or https URL, not ${url.protocol}`)
  }
  const extra = config.headers ?? {}
  if (
    typeof extra !== 'object' ||
    Array.isArray(extra) ||
    Object.values(extra).some((v) => typeof v !== 'string')
  ) {
    throw new Error('headers must be a JSON object of header names to string values')
  }
  global.headers = { ...extra, 'Content-Type': 'application/json' }
  if (config.authToken) global.headers.Authorization = `Bearer ${config.authToken}`
}

// A RetryError makes Sluice retry the batch later (after 6, 12 and 24 s), then keep it in the
// dead-letter store for replay. Any other error sends it to the dead-letter store at once.
export async function exportEvents(events, { config, global }) {
  let response
  try {
    response = await fetch(config.url, {
      method: 'POST',
      headers: global.headers,
      body: JSON.stringify({ batch: events }),
    })
  } catch (error) {
    throw new RetryError(`could not reach the endpoint: ${error.message}`)
  }
  if (response.status >= 500 || response.status === 429) {
    throw new RetryError(`the endpoint answered ${response.status}; the batch will be retried`)
  }
  if (!response.ok) {
    throw new Error(`the endpoint refused the batch: ${response.status} ${await response.text()}`)
  }
}
