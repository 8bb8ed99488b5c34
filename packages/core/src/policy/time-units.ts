/**
 * Job times (SPEC §3 `jobs`: `runIn(n, unit)`, `runAt(date)`) and schedule boundaries
 * (`runEveryMinute/Hour/Day`). Everything is UTC epoch milliseconds; the caller supplies "now".
 */

import { ValidationError } from '../errors.js'

/** A unit accepted by `runIn(n, unit)`, in its canonical singular form. */
export type TimeUnit =
  | 'millisecond'
  | 'second'
  | 'minute'
  | 'hour'
  | 'day'
  | 'week'
  | 'month'
  | 'quarter'
  | 'year'

/** Every {@link TimeUnit}, smallest first. Plural forms and any letter case are accepted too. */
export const TIME_UNITS: readonly TimeUnit[] = Object.freeze([
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

const SECOND_MS = 1000
const MINUTE_MS = 60 * SECOND_MS
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS

const FIXED_UNIT_MS: Readonly<Partial<Record<TimeUnit, number>>> = {
  millisecond: 1,
  second: SECOND_MS,
  minute: MINUTE_MS,
  hour: HOUR_MS,
  day: DAY_MS,
  week: 7 * DAY_MS,
}

const CALENDAR_UNIT_MONTHS: Readonly<Partial<Record<TimeUnit, number>>> = { month: 1, quarter: 3, year: 12 }

/** ECMAScript's Date range: ±100,000,000 days around the epoch. */
const MAX_EPOCH_MS = 8.64e15

const VALID_UNITS_TEXT = TIME_UNITS.map((u) => `${u}(s)`).join(', ')

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('jobs', 'invalid job time', [{ field, message }])
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'object' && value !== null) return Object.prototype.toString.call(value)
  return String(value)
}

/**
 * The canonical form of a `runIn` unit: singular or plural, any letter case.
 *
 * @throws ValidationError (component `jobs`) naming the unit and listing the valid ones.
 * @example
 * normalizeTimeUnit('Minutes') // 'minute'
 */
export function normalizeTimeUnit(unit: unknown): TimeUnit {
  if (typeof unit === 'string') {
    const lower = unit.toLowerCase()
    const singular = lower.endsWith('s') ? lower.slice(0, -1) : lower
    for (const candidate of TIME_UNITS) {
      if (candidate === lower || candidate === singular) return candidate
    }
  }
  return invalidUnit(unit)
}

function invalidUnit(unit: unknown): never {
  throw invalid('unit', `unknown time unit ${describe(unit)} — use one of ${VALID_UNITS_TEXT}`)
}

/**
 * `epochMs` plus `amount` of `unit`, in UTC.
 *
 * `millisecond` … `week` are fixed lengths (a day is always 24 h, a week 168 h). `month`,
 * `quarter` (3 months) and `year` (12 months) are calendar units: the month changes, the time of
 * day stays, and the day of the month is clamped to the target month's last day, so Jan 31 + 1
 * month is Feb 28 (Feb 29 in a leap year) and Feb 29 + 1 year is Feb 28. Calendar amounts must be
 * whole numbers; fixed units accept fractions.
 *
 * @throws ValidationError (component `jobs`) for an unknown unit, an amount that is negative,
 *   not finite or (for calendar units) not whole, or a result outside the Date range.
 * @example
 * addTime(Date.UTC(2024, 0, 31), 1, 'month') // Date.UTC(2024, 1, 29)
 * addTime(0, 90, 'seconds') // 90_000
 */
export function addTime(epochMs: number, amount: number, unit: string): number {
  if (!Number.isFinite(epochMs)) throw new RangeError(`epochMs must be finite, got ${epochMs}`)
  const canonical = normalizeTimeUnit(unit)
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0) {
    throw invalid('amount', `runIn needs a finite number ≥ 0, got ${describe(amount)}`)
  }
  const fixed = FIXED_UNIT_MS[canonical]
  let result: number
  if (fixed !== undefined) {
    result = epochMs + amount * fixed
  } else {
    if (!Number.isInteger(amount)) {
      throw invalid(
        'amount',
        `${canonical}s are calendar units and need a whole number, got ${amount} — use a smaller unit`,
      )
    }
    result = addCalendarMonths(epochMs, amount * (CALENDAR_UNIT_MONTHS[canonical] ?? 0))
  }
  if (!Number.isFinite(result) || Math.abs(result) > MAX_EPOCH_MS) {
    throw invalid('amount', `${amount} ${canonical}(s) from now is beyond the latest representable date`)
  }
  return result
}

function addCalendarMonths(epochMs: number, months: number): number {
  const start = new Date(epochMs)
  const timeOfDay = epochMs - Math.floor(epochMs / DAY_MS) * DAY_MS
  const monthIndex = start.getUTCFullYear() * 12 + start.getUTCMonth() + months
  const year = Math.floor(monthIndex / 12)
  const month = monthIndex - year * 12
  const day = Math.min(start.getUTCDate(), daysInMonth(year, month))
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 onto 1900–1999.
  const target = new Date(0)
  target.setUTCFullYear(year, month, day)
  return target.getTime() + timeOfDay
}

function daysInMonth(year: number, month: number): number {
  const lastDay = new Date(0)
  lastDay.setUTCFullYear(year, month + 1, 0)
  return lastDay.getUTCDate()
}

/**
 * The epoch milliseconds of a `runAt(date)` argument: a `Date`, epoch milliseconds, or a string
 * `Date` can parse (ISO 8601 recommended). A time in the past is valid: the job runs at once.
 *
 * @throws ValidationError (component `jobs`) when the value is not a valid date.
 * @example
 * parseRunAt('2024-03-01T12:00:00Z') // 1709294400000
 */
export function parseRunAt(date: Date | string | number): number {
  let epochMs = Number.NaN
  if (typeof date === 'object' && date !== null) {
    epochMs = dateValue(date)
  } else if (typeof date === 'number') {
    epochMs = date
  } else if (typeof date === 'string' && date.trim() !== '') {
    epochMs = Date.parse(date)
  }
  if (!Number.isFinite(epochMs) || Math.abs(epochMs) > MAX_EPOCH_MS) {
    throw invalid(
      'runAt',
      `${describe(date)} is not a valid date — pass a Date, epoch milliseconds or an ISO 8601 string such as '2024-03-01T12:00:00Z'`,
    )
  }
  return epochMs
}

// A Date created in another realm (the sandbox) fails `instanceof Date`; getTime() checks the
// internal date slot instead, and throws for anything that only looks like a Date.
function dateValue(value: object): number {
  try {
    return Date.prototype.getTime.call(value)
  } catch {
    return Number.NaN
  }
}

/** A scheduled task a plugin may export. */
export type SchedulePeriod = 'runEveryMinute' | 'runEveryHour' | 'runEveryDay'

/** Every {@link SchedulePeriod}. */
export const SCHEDULE_PERIODS: readonly SchedulePeriod[] = Object.freeze([
  'runEveryMinute',
  'runEveryHour',
  'runEveryDay',
])

const PERIOD_MS: Readonly<Record<SchedulePeriod, number>> = {
  runEveryMinute: MINUTE_MS,
  runEveryHour: HOUR_MS,
  runEveryDay: DAY_MS,
}

/**
 * The next UTC minute, hour or day boundary strictly after `afterEpochMs`: a task that just ran
 * exactly on a boundary is next due one period later.
 *
 * @example
 * nextScheduledRun('runEveryHour', Date.UTC(2024, 0, 1, 10, 30)) // Date.UTC(2024, 0, 1, 11)
 * nextScheduledRun('runEveryHour', Date.UTC(2024, 0, 1, 11)) // Date.UTC(2024, 0, 1, 12)
 */
export function nextScheduledRun(period: SchedulePeriod, afterEpochMs: number): number {
  const step = PERIOD_MS[period]
  if (step === undefined) {
    throw new RangeError(
      `unknown schedule period '${String(period)}' — use one of ${SCHEDULE_PERIODS.join(', ')}`,
    )
  }
  if (!Number.isFinite(afterEpochMs)) throw new RangeError(`afterEpochMs must be finite, got ${afterEpochMs}`)
  return Math.floor(afterEpochMs / step) * step + step
}
