import type { QueueRecord } from '@sluice/core'

/**
 * Attribute names starting with this are Sluice's own; record headers may not use them. Pub/Sub
 * itself reserves names starting with `goog`.
 */
export const RESERVED_ATTRIBUTE_PREFIX = 'sluice-'
/** Marks a record whose key is the empty string (Pub/Sub has no empty ordering key). */
export const EMPTY_KEY_ATTRIBUTE = 'sluice-empty-key'
/** Marks a record with an empty value and no headers (Pub/Sub refuses a message with neither). */
export const EMPTY_VALUE_ATTRIBUTE = 'sluice-empty'

/** A message as the publisher takes it. */
export interface OutgoingMessage {
  data: Buffer
  orderingKey?: string
  attributes?: Record<string, string>
}

/** The parts of a received Pub/Sub message a record is read from. */
export interface IncomingMessage {
  data: Buffer | Uint8Array
  orderingKey?: string | null
  attributes?: Readonly<Record<string, string>> | null
}

/** Why a record cannot be published, or undefined when it can. */
export function invalidRecord(record: QueueRecord | undefined, index: number): string | undefined {
  if (typeof record !== 'object' || record === null)
    return `record ${index} is not an object: pass { key, value, headers? }`
  if (record.key !== null && typeof record.key !== 'string') {
    return `record ${index} has a ${typeof record.key} key: use a string, or null for no key`
  }
  if (typeof record.value !== 'string') {
    return `record ${index} has a ${typeof record.value} value: serialize it to a string (JSON text)`
  }
  if (record.headers !== undefined) {
    if (typeof record.headers !== 'object' || record.headers === null) {
      return `record ${index} headers must be an object of strings`
    }
    for (const [name, value] of Object.entries(record.headers)) {
      if (typeof value !== 'string') {
        return `record ${index} header '${name}' is a ${typeof value}: header values must be strings`
      }
      if (
        name.length === 0 ||
        name.startsWith(RESERVED_ATTRIBUTE_PREFIX) ||
        name.toLowerCase().startsWith('goog')
      ) {
        return `record ${index} header '${name}' is reserved: header names must be non-empty and not start with '${RESERVED_ATTRIBUTE_PREFIX}' or 'goog'`
      }
    }
  }
  return undefined
}

/**
 * A record as a Pub/Sub message: the value is the data (UTF-8), the key the ordering key, headers
 * are attributes. An empty-string key, which Pub/Sub cannot order by, travels as an attribute and
 * is not ordered.
 */
export function encodeRecord(record: QueueRecord): OutgoingMessage {
  const message: OutgoingMessage = { data: Buffer.from(record.value, 'utf8') }
  const attributes: Record<string, string> = record.headers ? { ...record.headers } : {}
  if (record.key === '') attributes[EMPTY_KEY_ATTRIBUTE] = '1'
  else if (record.key !== null) message.orderingKey = record.key
  if (message.data.length === 0 && Object.keys(attributes).length === 0)
    attributes[EMPTY_VALUE_ATTRIBUTE] = '1'
  if (Object.keys(attributes).length > 0) message.attributes = attributes
  return message
}

/** The record a Pub/Sub message carries (the inverse of {@link encodeRecord}). */
export function decodeRecord(message: IncomingMessage): QueueRecord {
  const attributes = message.attributes ?? {}
  let key: string | null = message.orderingKey ? message.orderingKey : null
  const headers: Record<string, string> = {}
  let hasHeaders = false
  for (const [name, value] of Object.entries(attributes)) {
    if (name === EMPTY_KEY_ATTRIBUTE) key = ''
    // googclient_* attributes are added by the client library (tracing), not by the producer.
    else if (!name.startsWith(RESERVED_ATTRIBUTE_PREFIX) && !name.startsWith('googclient_')) {
      headers[name] = value
      hasHeaders = true
    }
  }
  const record: QueueRecord = { key, value: Buffer.from(message.data).toString('utf8') }
  if (hasHeaders) record.headers = headers
  return record
}
