import { describe, expect, it } from 'vitest'
import { createManualClock } from './manual-clock.js'

describe('createManualClock', () => {
  it('runs timers in due order as time advances, not before', () => {
    const clock = createManualClock(1_000)
    const ran: string[] = []
    clock.setTimer(300, () => ran.push(`b@${clock.now()}`))
    clock.setTimer(100, () => ran.push(`a@${clock.now()}`))
    clock.advance(99)
    expect(ran).toEqual([])
    clock.advance(150)
    expect(ran).toEqual(['a@1100'])
    clock.advance(51)
    expect(ran).toEqual(['a@1100', 'b@1300'])
    expect(clock.now()).toBe(1_300)
  })

  it('runs timers set by callbacks when they fall due within the same advance', () => {
    const clock = createManualClock(0)
    const ran: number[] = []
    clock.setTimer(10, () => {
      ran.push(clock.now())
      clock.setTimer(10, () => ran.push(clock.now()))
    })
    clock.advance(100)
    expect(ran).toEqual([10, 20])
    expect(clock.now()).toBe(100)
  })

  it('never runs a cancelled timer and never moves backwards', () => {
    const clock = createManualClock(500)
    let ran = false
    clock
      .setTimer(10, () => {
        ran = true
      })
      .cancel()
    clock.advanceTo(100)
    expect(clock.now()).toBe(500)
    clock.advance(1_000)
    expect(ran).toBe(false)
    expect(clock.pendingTimers()).toBe(0)
  })
})
