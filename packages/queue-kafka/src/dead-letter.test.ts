import { DeadLetterError, type NewDeadLetter } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import {
  createKafkaDeadLetterTopic,
  deadLetterHeaders,
  decodeDeadLetter,
  encodeDeadLetter,
} from './dead-letter.js'

const entry: NewDeadLetter = {
  source: 'ingestion',
  reason: 'event is not JSON — ünïcödé',
  payload: '{"broken"',
  teamId: 2,
  configId: 7,
}

describe('dead-letter records', () => {
  it('carry the payload as value, the team as key and the rest in headers, and decode back', () => {
    const record = encodeDeadLetter(entry)
    expect(record).toEqual({
      key: '2',
      value: '{"broken"',
      headers: {
        [deadLetterHeaders.source]: 'ingestion',
        [deadLetterHeaders.reason]: 'event is not JSON — ünïcödé',
        [deadLetterHeaders.teamId]: '2',
        [deadLetterHeaders.configId]: '7',
      },
    })
    expect(decodeDeadLetter(record)).toEqual(entry)
  })

  it('leave out unknown team and config, and decode them as null', () => {
    const anonymous = { ...entry, teamId: null, configId: null }
    const record = encodeDeadLetter(anonymous)
    expect(record.key).toBeNull()
    expect(decodeDeadLetter(record)).toEqual(anonymous)
  })

  it('decode to null when a record is not a dead letter', () => {
    expect(decodeDeadLetter({ value: 'x' })).toBeNull()
    expect(
      decodeDeadLetter({
        value: 'x',
        headers: { [deadLetterHeaders.source]: 'elsewhere', [deadLetterHeaders.reason]: 'r' },
      }),
    ).toBeNull()
  })
})

describe('createKafkaDeadLetterTopic', () => {
  it('rejects a bad topic, bad entries and use after close with a DeadLetterError', async () => {
    expect(() => createKafkaDeadLetterTopic({ brokers: '127.0.0.1:1', topic: 'no spaces' })).toThrow(
      DeadLetterError,
    )
    const dlq = createKafkaDeadLetterTopic({ brokers: '127.0.0.1:1', topic: 'dlq' })
    expect(dlq.topic).toBe('dlq')
    await expect(dlq.put([{ ...entry, source: 'nowhere' as NewDeadLetter['source'] }])).rejects.toMatchObject(
      {
        code: 'dead-letter.invalid',
        retryable: false,
      },
    )
    await expect(dlq.put([])).resolves.toBeUndefined()
    await dlq.close()
    await expect(dlq.put([entry])).rejects.toMatchObject({ code: 'dead-letter.closed' })
  })
})
