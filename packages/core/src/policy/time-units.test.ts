import { describe, expect, it } from 'vitest'
import { ValidationError } from '../errors.js'
import {
  addTime,
  nextScheduledRun,
  normalizeTimeUnit,
  parseRunAt,
  SCHEDULE_PERIODS,
  TIME_UNITS,
  type TimeUnit,
} from './time-units.js'

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) =>
  Date.UTC(y, mo - 1, d, h, mi, s, ms)
const iso = (ms: number) => new Date(ms).toISOString()

function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

describe('normalizeTimeUnit', () => {
  const spellings: [string, TimeUnit][] = TIME_UNITS.flatMap((unit): [string, TimeUnit][] => [
    [unit, unit],
    [`${unit}s`, unit],
    [unit.toUpperCase(), unit],
    [`${unit[0]?.toUpperCase()}${unit.slice(1)}S`, unit],
  ])

  it('lists the nine units smallest first', () => {
    expect(TIME_UNITS).toEqual([
      'millisecond',
      'second',
      'minute',
      'hour',
      'day',
      'week',
      'month',
      'quarter',
      'year',
    ])
  })

  it.each(spellings)('accepts %s as %s', (spelling, unit) => {
    expect(normalizeTimeUnit(spelling)).toBe(unit)
  })

  it.each(['fortnight', 'ms', 'sec', 'mins', 's', '', 'secondss', ' seconds'])('rejects %j', (unit) => {
    expect(() => normalizeTimeUnit(unit)).toThrow(ValidationError)
  })

  it('names the bad unit and lists every valid one', () => {
    const error = caught(() => normalizeTimeUnit('fortnights')) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.component).toBe('jobs')
    expect(error.code).toBe('jobs.invalid')
    expect(error.retryable).toBe(false)
    expect(error.problems).toEqual([{ field: 'unit', message: expect.stringContaining("'fortnights'") }])
    expect(error.message).toBe(
      "[sluice:jobs] invalid job time: unit: unknown time unit 'fortnights' — use one of millisecond(s), second(s), minute(s), hour(s), day(s), week(s), month(s), quarter(s), year(s)",
    )
  })

  it('rejects a unit that is not a string', () => {
    expect(() => normalizeTimeUnit(5)).toThrow(/unknown time unit 5/)
  })
})

describe('addTime: fixed units', () => {
  const start = utc(2024, 3, 9, 22, 15, 30, 250)

  it.each([
    ['millisecond', 1],
    ['second', 1_000],
    ['minute', 60_000],
    ['hour', 3_600_000],
    ['day', 86_400_000],
    ['week', 604_800_000],
  ])('1 %s is %d ms', (unit, ms) => {
    expect(addTime(start, 1, unit)).toBe(start + ms)
    expect(addTime(start, 3, `${unit}s`)).toBe(start + 3 * ms)
  })

  it('accepts fractions of fixed units', () => {
    expect(addTime(start, 1.5, 'hours')).toBe(start + 5_400_000)
    expect(addTime(start, 0.5, 'seconds')).toBe(start + 500)
  })

  it('adds zero', () => {
    expect(addTime(start, 0, 'days')).toBe(start)
    expect(addTime(start, 0, 'months')).toBe(start)
  })

  it('treats a day as exactly 24 h in UTC, across a DST change in local zones', () => {
    // Europe and the US change clocks on 2024-03-31 and 2024-03-10; UTC does not.
    expect(iso(addTime(utc(2024, 3, 30, 12), 1, 'day'))).toBe('2024-03-31T12:00:00.000Z')
    expect(iso(addTime(utc(2024, 3, 9, 12), 2, 'days'))).toBe('2024-03-11T12:00:00.000Z')
  })

  it('crosses a leap day in days and weeks', () => {
    expect(iso(addTime(utc(2024, 2, 28, 6), 1, 'day'))).toBe('2024-02-29T06:00:00.000Z')
    expect(iso(addTime(utc(2024, 2, 25), 1, 'week'))).toBe('2024-03-03T00:00:00.000Z')
  })
})

describe('addTime: calendar units', () => {
  it.each([
    ['2024-01-31T10:20:30.400Z', 1, 'month', '2024-02-29T10:20:30.400Z'],
    ['2023-01-31T10:20:30.400Z', 1, 'month', '2023-02-28T10:20:30.400Z'],
    ['2024-03-31T00:00:00.000Z', 1, 'month', '2024-04-30T00:00:00.000Z'],
    ['2024-01-15T08:00:00.000Z', 1, 'month', '2024-02-15T08:00:00.000Z'],
    ['2024-01-31T00:00:00.000Z', 2, 'months', '2024-03-31T00:00:00.000Z'],
    ['2024-12-15T23:59:59.999Z', 1, 'month', '2025-01-15T23:59:59.999Z'],
    ['2024-12-31T00:00:00.000Z', 2, 'months', '2025-02-28T00:00:00.000Z'],
    ['2024-11-30T00:00:00.000Z', 14, 'months', '2026-01-30T00:00:00.000Z'],
    ['2024-01-01T00:00:00.000Z', 12, 'months', '2025-01-01T00:00:00.000Z'],
    ['2024-11-30T00:00:00.000Z', 1, 'quarter', '2025-02-28T00:00:00.000Z'],
    ['2024-01-31T00:00:00.000Z', 1, 'quarter', '2024-04-30T00:00:00.000Z'],
    ['2024-05-15T12:00:00.000Z', 4, 'quarters', '2025-05-15T12:00:00.000Z'],
    ['2024-02-29T12:00:00.000Z', 1, 'year', '2025-02-28T12:00:00.000Z'],
    ['2024-02-29T12:00:00.000Z', 4, 'years', '2028-02-29T12:00:00.000Z'],
    ['2023-06-30T00:00:00.000Z', 1, 'YEAR', '2024-06-30T00:00:00.000Z'],
    ['1969-12-31T18:00:00.000Z', 1, 'month', '1970-01-31T18:00:00.000Z'],
  ])('%s + %d %s = %s', (from, amount, unit, expected) => {
    expect(iso(addTime(Date.parse(from), amount, unit))).toBe(expected)
  })

  it('clamps per step only once: Jan 31 + 1 month + 1 month is Mar 29, not Mar 31', () => {
    const feb = addTime(utc(2024, 1, 31), 1, 'month')
    expect(iso(addTime(feb, 1, 'month'))).toBe('2024-03-29T00:00:00.000Z')
  })

  it('rejects fractional calendar amounts with a hint', () => {
    expect(() => addTime(0, 1.5, 'months')).toThrow(
      'amount: months are calendar units and need a whole number, got 1.5 — use a smaller unit',
    )
    expect(() => addTime(0, 0.25, 'year')).toThrow(ValidationError)
  })
})

describe('addTime: invalid input', () => {
  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'rejects amount %s',
    (amount) => {
      const error = caught(() => addTime(0, amount, 'seconds')) as ValidationError
      expect(error).toBeInstanceOf(ValidationError)
      expect(error.problems[0]?.field).toBe('amount')
      expect(error.message).toContain(`runIn needs a finite number ≥ 0, got ${amount}`)
    },
  )

  it('rejects an amount that is not a number', () => {
    expect(() => addTime(0, '5' as unknown as number, 'seconds')).toThrow("got '5'")
  })

  it('names an unknown unit before looking at the amount', () => {
    expect(() => addTime(0, -1, 'eons')).toThrow("unknown time unit 'eons'")
  })

  it('rejects a result past the last representable date', () => {
    expect(() => addTime(0, 1e9, 'years')).toThrow(/beyond the latest representable date/)
    expect(() => addTime(0, 1e300, 'milliseconds')).toThrow(ValidationError)
  })

  it('rejects a non-finite start as a programming error', () => {
    expect(() => addTime(Number.NaN, 1, 'day')).toThrow(RangeError)
  })
})

describe('parseRunAt', () => {
  const at = utc(2024, 3, 1, 12)

  it('accepts a Date, epoch milliseconds and ISO strings', () => {
    expect(parseRunAt(new Date(at))).toBe(at)
    expect(parseRunAt(at)).toBe(at)
    expect(parseRunAt('2024-03-01T12:00:00Z')).toBe(at)
    expect(parseRunAt('2024-03-01T13:00:00+01:00')).toBe(at)
    expect(parseRunAt(0)).toBe(0)
  })

  it('accepts a Date that is not instanceof Date here, as one from the sandbox realm is', () => {
    const foreign = Object.setPrototypeOf(new Date(at), null)
    expect(foreign instanceof Date).toBe(false)
    expect(parseRunAt(foreign)).toBe(at)
  })

  it('refuses an object that only claims to be a Date', () => {
    const lookalike = { [Symbol.toStringTag]: 'Date', getTime: () => at, valueOf: () => at }
    expect(() => parseRunAt(lookalike as unknown as Date)).toThrow(ValidationError)
  })

  it('accepts past dates (the job runs at once)', () => {
    expect(parseRunAt('2000-01-01T00:00:00Z')).toBe(utc(2000, 1, 1))
  })

  it.each([
    ['an invalid Date', new Date('nope'), '[object Date]'],
    ['garbage text', 'next tuesday-ish', "'next tuesday-ish'"],
    ['an empty string', '', "''"],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['null', null, 'null'],
    ['an object', {}, '[object Object]'],
  ])('rejects %s with a clear message', (_, value, shown) => {
    const error = caught(() => parseRunAt(value as never)) as ValidationError
    expect(error).toBeInstanceOf(ValidationError)
    expect(error.component).toBe('jobs')
    expect(error.problems[0]?.field).toBe('runAt')
    expect(error.message).toBe(
      `[sluice:jobs] invalid job time: runAt: ${shown} is not a valid date — pass a Date, epoch milliseconds or an ISO 8601 string such as '2024-03-01T12:00:00Z'`,
    )
  })

  it('rejects epoch milliseconds outside the Date range', () => {
    expect(() => parseRunAt(8.64e15 + 1)).toThrow(ValidationError)
  })
})

describe('nextScheduledRun', () => {
  it('lists the three periods', () => {
    expect(SCHEDULE_PERIODS).toEqual(['runEveryMinute', 'runEveryHour', 'runEveryDay'])
  })

  it.each([
    ['runEveryMinute', '2024-03-01T12:34:56.789Z', '2024-03-01T12:35:00.000Z'],
    ['runEveryMinute', '2024-03-01T12:34:00.000Z', '2024-03-01T12:35:00.000Z'],
    ['runEveryMinute', '2024-03-01T12:34:59.999Z', '2024-03-01T12:35:00.000Z'],
    ['runEveryMinute', '2024-12-31T23:59:30.000Z', '2025-01-01T00:00:00.000Z'],
    ['runEveryHour', '2024-03-01T12:34:56.789Z', '2024-03-01T13:00:00.000Z'],
    ['runEveryHour', '2024-03-01T12:00:00.000Z', '2024-03-01T13:00:00.000Z'],
    ['runEveryHour', '2024-03-01T23:00:00.001Z', '2024-03-02T00:00:00.000Z'],
    ['runEveryDay', '2024-03-01T12:34:56.789Z', '2024-03-02T00:00:00.000Z'],
    ['runEveryDay', '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z'],
    ['runEveryDay', '2024-02-28T23:59:59.999Z', '2024-02-29T00:00:00.000Z'],
    ['runEveryDay', '1969-12-31T12:00:00.000Z', '1970-01-01T00:00:00.000Z'],
  ] as const)('%s after %s is %s (strictly after)', (period, after, expected) => {
    expect(iso(nextScheduledRun(period, Date.parse(after)))).toBe(expected)
  })

  it('rejects an unknown period and a non-finite time', () => {
    expect(() => nextScheduledRun('runEveryWeek' as never, 0)).toThrow(
      /unknown schedule period 'runEveryWeek'/,
    )
    expect(() => nextScheduledRun('runEveryDay', Number.NaN)).toThrow(RangeError)
  })
})
