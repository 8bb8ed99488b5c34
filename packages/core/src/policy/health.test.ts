import { describe, expect, it } from 'vitest'
import {
  advanceHealth,
  type ConfigHealth,
  DEFAULT_HEALTH_POLICY,
  type HealthPolicy,
  type HealthSample,
  initialHealth,
  pauseHealth,
  recentCounts,
  recordHealth,
} from './health.js'

const NOW = Date.UTC(2026, 0, 1, 12)
const policy = DEFAULT_HEALTH_POLICY
const errors = (n: number, reason: string | null = 'processEvent failed: TypeError: boom'): HealthSample => ({
  errors: n,
  slowCalls: 0,
  reason,
})

/** Records samples in turn, collecting every transition as `from→to`. */
function run(health: ConfigHealth, steps: [number, HealthSample][], p: HealthPolicy = policy) {
  const seen: string[] = []
  let current = health
  for (const [at, sample] of steps) {
    const update = recordHealth(p, current, at, sample)
    seen.push(...update.transitions.map((t) => `${t.from}→${t.to}`))
    current = update.health
  }
  return { health: current, seen }
}

describe('health policy (SPEC §5)', () => {
  it('starts healthy with a full budget; successful, fast calls cost nothing', () => {
    const start = initialHealth(policy, NOW)
    expect(start).toMatchObject({ status: 'healthy', budget: 100, pausedUntil: null, lastReason: null })
    const { health, seen } = run(start, [[NOW + 1, { errors: 0, slowCalls: 0, reason: null }]])
    expect(health.budget).toBe(100)
    expect(seen).toEqual([])
  })

  it('charges 1 per error and 0.5 per slow call, and counts both as recent', () => {
    const { health } = run(initialHealth(policy, NOW), [
      [NOW, errors(3)],
      [NOW, { errors: 0, slowCalls: 4, reason: 'onEvent took 12000 ms' }],
    ])
    expect(health.budget).toBe(95)
    expect(recentCounts(health)).toEqual({ errors: 3, slowCalls: 4 })
    expect(health.lastReason).toBe('onEvent took 12000 ms')
  })

  it('is degraded once the budget falls below half, and healthy again once it refills past it', () => {
    const { health, seen } = run(initialHealth(policy, NOW), [
      [NOW, errors(50)],
      [NOW, errors(1)],
    ])
    expect(seen).toEqual(['healthy→degraded'])
    expect(health).toMatchObject({ status: 'degraded', budget: 49, since: NOW })
    expect(health.lastReason).toMatch(/^budget 49 of 100: running low \(51 errors and 0 slow calls/)
    // 0.5 per second: 1 more point after 2 s.
    expect(advanceHealth(policy, health, NOW + 1_999).health.status).toBe('degraded')
    const recovered = advanceHealth(policy, health, NOW + 2_000)
    expect(recovered.health).toMatchObject({ status: 'healthy', budget: 50, since: NOW + 2_000 })
    expect(recovered.transitions).toEqual([
      { from: 'degraded', to: 'healthy', reason: 'budget 50 of 100: recovered' },
    ])
  })

  it('never refills past the capacity', () => {
    const { health } = run(initialHealth(policy, NOW), [[NOW, errors(10)]])
    expect(advanceHealth(policy, health, NOW + 3_600_000).health.budget).toBe(100)
  })

  it('pauses a config that spends its budget, and charges nothing while paused', () => {
    const { health, seen } = run(initialHealth(policy, NOW), [
      [NOW, errors(100)],
      [NOW + 1_000, errors(500)],
    ])
    expect(seen).toEqual(['healthy→paused'])
    expect(health).toMatchObject({ status: 'paused', budget: 0, pausedUntil: NOW + 60_000, pauses: [NOW] })
    expect(health.lastReason).toBe(
      'budget spent: paused for 60 s (100 errors and 0 slow calls in the last 10 min; last: processEvent failed: TypeError: boom)',
    )
    expect(recentCounts(health).errors).toBe(100)
  })

  it('goes straight from healthy to paused when one sample spends everything', () => {
    const update = recordHealth(policy, initialHealth(policy, NOW), NOW, errors(150))
    expect(update.transitions.map((t) => t.to)).toEqual(['paused'])
  })

  it('resumes after the pause with a quarter of the budget (degraded), refilled from the pause end', () => {
    const { health } = run(initialHealth(policy, NOW), [[NOW, errors(100)]])
    expect(advanceHealth(policy, health, NOW + 59_999).health.status).toBe('paused')
    const resumed = advanceHealth(policy, health, NOW + 60_000)
    expect(resumed.health).toMatchObject({
      status: 'degraded',
      budget: 25,
      pausedUntil: null,
      since: NOW + 60_000,
    })
    expect(resumed.transitions).toEqual([
      { from: 'paused', to: 'degraded', reason: 'pause ended; resuming with budget 25 of 100' },
    ])
    // Looked at long after the pause ended: resumed, then refilled to healthy, both reported.
    const later = advanceHealth(policy, health, NOW + 60_000 + 50_000)
    expect(later.transitions.map((t) => `${t.from}→${t.to}`)).toEqual(['paused→degraded', 'degraded→healthy'])
    expect(later.health.budget).toBe(50)
  })

  it('doubles each further pause within the window and disables after the third', () => {
    let health = initialHealth(policy, NOW)
    const pauses: number[] = []
    let at = NOW
    const seen: string[] = []
    for (let round = 0; round < 4; round++) {
      const update = recordHealth(policy, health, at, errors(100))
      seen.push(...update.transitions.map((t) => `${t.from}→${t.to}`))
      health = update.health
      if (health.status !== 'paused') break
      pauses.push((health.pausedUntil as number) - at)
      at = health.pausedUntil as number
      const resumed = advanceHealth(policy, health, at)
      seen.push(...resumed.transitions.map((t) => `${t.from}→${t.to}`))
      health = resumed.health
    }
    expect(pauses).toEqual([60_000, 120_000, 240_000])
    expect(seen).toEqual([
      'healthy→paused',
      'paused→degraded',
      'degraded→paused',
      'paused→degraded',
      'degraded→paused',
      'paused→degraded',
      'degraded→disabled',
    ])
    expect(health.status).toBe('disabled')
    expect(health.lastReason).toMatch(/^budget spent again after 3 pauses within 60 min/)
    // Disabled is final for the policy: no refills, no charges.
    expect(advanceHealth(policy, health, at + 86_400_000).health).toBe(health)
    expect(recordHealth(policy, health, at + 1, errors(1)).health.status).toBe('disabled')
  })

  it('forgets pauses older than the window, so an occasional burst is paused again, not disabled', () => {
    let health = initialHealth(policy, NOW)
    let at = NOW
    for (let round = 0; round < 5; round++) {
      health = recordHealth(policy, health, at, errors(100)).health
      expect(health.status).toBe('paused')
      expect((health.pausedUntil as number) - at).toBe(60_000)
      at += 3_600_001
      health = advanceHealth(policy, health, at).health
    }
  })

  it('caps a pause at maxPauseMs', () => {
    const p = { ...policy, pauseMs: 40 * 60_000, maxPauses: 5 }
    let health = initialHealth(p, NOW)
    health = recordHealth(p, health, NOW, errors(100)).health
    health = advanceHealth(p, health, health.pausedUntil as number).health
    const at = health.refilledAt
    health = recordHealth(p, health, at, errors(100)).health
    expect((health.pausedUntil as number) - at).toBe(3_600_000)
  })

  it('counts per minute and drops a minute once all of it is older than the recent window', () => {
    const { health } = run(initialHealth(policy, NOW), [
      [NOW + 30_000, errors(2)],
      [NOW + 5 * 60_000, errors(3)],
    ])
    expect(recentCounts(advanceHealth(policy, health, NOW + 11 * 60_000 - 1).health).errors).toBe(5)
    expect(recentCounts(advanceHealth(policy, health, NOW + 11 * 60_000).health).errors).toBe(3)
  })

  it('pauses on the operator’s word for the given time, without counting it towards disabling', () => {
    const update = pauseHealth(policy, initialHealth(policy, NOW), NOW, 5_000, 'paused by the operator')
    expect(update.transitions).toEqual([{ from: 'healthy', to: 'paused', reason: 'paused by the operator' }])
    expect(update.health).toMatchObject({
      status: 'paused',
      pausedUntil: NOW + 5_000,
      pauses: [],
      budget: 100,
    })
    // It had its whole budget: it resumes with it.
    const resumed = advanceHealth(policy, update.health, NOW + 5_000)
    expect(resumed.health).toMatchObject({ status: 'healthy', budget: 100 })
  })

  it('keeps states JSON-serializable', () => {
    const { health } = run(initialHealth(policy, NOW), [[NOW, errors(100)]])
    expect(JSON.parse(JSON.stringify(health))).toEqual(health)
  })
})
