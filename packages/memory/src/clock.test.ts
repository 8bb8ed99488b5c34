import { describe, expect, it } from 'vitest'
import { createSystemClock } from './clock.js'

describe('createSystemClock', () => {
  it('reads the process time', () => {
    const before = Date.now()
    const now = createSystemClock().now()
    expect(now).toBeGreaterThanOrEqual(before)
    expect(now).toBeLessThanOrEqual(Date.now())
  })

  it('runs a timer after its delay, and never a cancelled one', async () => {
    const clock = createSystemClock()
    const ran: string[] = []
    const start = Date.now()
    clock.setTimer(5_000, () => ran.push('cancelled')).cancel()
    await new Promise<void>((resolve) => {
      clock.setTimer(20, () => {
        ran.push('due')
        resolve()
      })
    })
    expect(ran).toEqual(['due'])
    expect(Date.now() - start).toBeGreaterThanOrEqual(19)
  })
})
