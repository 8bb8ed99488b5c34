import type { QueueRecord } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import {
  decodeRecord,
  EMPTY_KEY_ATTRIBUTE,
  EMPTY_VALUE_ATTRIBUTE,
  encodeRecord,
  invalidRecord,
} from './codec.js'

const roundTrip = (record: QueueRecord) => decodeRecord(encodeRecord(record))

describe('encodeRecord and decodeRecord', () => {
  it('carry the key as the ordering key, the value as UTF-8 data and headers as attributes', () => {
    const record: QueueRecord = { key: '2:user-1', value: '{"e":"héllo 🚀"}', headers: { 'x-a': 'ü' } }
    const message = encodeRecord(record)
    expect(message.orderingKey).toBe('2:user-1')
    expect(message.data.toString('utf8')).toBe('{"e":"héllo 🚀"}')
    expect(message.attributes).toEqual({ 'x-a': 'ü' })
    expect(roundTrip(record)).toEqual(record)
  })

  it('keep a record without key or headers plain', () => {
    const message = encodeRecord({ key: null, value: 'v' })
    expect(message).toEqual({ data: Buffer.from('v') })
    expect(roundTrip({ key: null, value: 'v' })).toEqual({ key: null, value: 'v' })
  })

  it('tell an empty-string key from no key, though Pub/Sub cannot order by it', () => {
    const message = encodeRecord({ key: '', value: 'v' })
    expect(message.orderingKey).toBeUndefined()
    expect(message.attributes).toEqual({ [EMPTY_KEY_ATTRIBUTE]: '1' })
    expect(roundTrip({ key: '', value: 'v' })).toEqual({ key: '', value: 'v' })
  })

  it('give a message with an empty value and nothing else an attribute, as Pub/Sub requires one', () => {
    expect(encodeRecord({ key: 'k', value: '' }).attributes).toEqual({ [EMPTY_VALUE_ATTRIBUTE]: '1' })
    expect(encodeRecord({ key: 'k', value: '', headers: { h: '1' } }).attributes).toEqual({ h: '1' })
    expect(roundTrip({ key: 'k', value: '' })).toEqual({ key: 'k', value: '' })
  })

  it('leave out attributes the client library adds', () => {
    const record = decodeRecord({
      data: Buffer.from('v'),
      orderingKey: '',
      attributes: { googclient_OpenTelemetrySpanContext: '00-abc', h: 'x' },
    })
    expect(record).toEqual({ key: null, value: 'v', headers: { h: 'x' } })
  })
})

describe('invalidRecord', () => {
  it('accepts well-formed records', () => {
    expect(invalidRecord({ key: null, value: '' }, 0)).toBeUndefined()
    expect(invalidRecord({ key: 'k', value: 'v', headers: { a: 'b' } }, 0)).toBeUndefined()
  })

  it.each([
    [null, /record 3 is not an object/],
    [{ key: 1, value: 'v' }, /number key/],
    [{ key: 'k', value: { a: 1 } }, /serialize it to a string/],
    [{ key: 'k', value: 'v', headers: { a: 1 } }, /header 'a' is a number/],
    [{ key: 'k', value: 'v', headers: { 'sluice-x': 'y' } }, /header 'sluice-x' is reserved/],
    [{ key: 'k', value: 'v', headers: { googThing: 'y' } }, /header 'googThing' is reserved/],
    [{ key: 'k', value: 'v', headers: { '': 'y' } }, /header '' is reserved/],
  ])('explains what is wrong with %j', (record, problem) => {
    expect(invalidRecord(record as unknown as QueueRecord, 3)).toMatch(problem)
  })
})
