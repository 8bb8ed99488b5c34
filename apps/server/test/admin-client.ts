/** What an admin API call answered: its status and its body, as JSON (null when empty) and as text. */
export interface AdminReply {
  status: number
  // Tests read whatever fields the route under test returns.
  // biome-ignore lint/suspicious/noExplicitAny: the body's shape is each route's, checked by the tests
  body: any
  text: string
}

/** Calls the admin API of the server at `url` with bearer `token`, sending `body` as JSON. */
export async function callAdmin(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<AdminReply> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, body: text === '' ? null : JSON.parse(text), text }
}

/** {@link callAdmin} for setup steps: throws unless the answer is 2xx, naming `where` it went. */
export async function callAdminOrThrow(
  where: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const reply = await callAdmin(where, token, method, path, body)
  if (reply.status < 200 || reply.status >= 300) {
    throw new Error(`${method} ${path} on ${where} answered ${reply.status}: ${reply.text}`)
  }
  return (reply.body ?? {}) as Record<string, unknown>
}
