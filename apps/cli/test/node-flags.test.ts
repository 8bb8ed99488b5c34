import { describe, expect, it } from 'vitest'
import { serverNodeFlags, sizedByOperator } from '../bin/node-flags.mjs'

const GB = 2 ** 30

describe('serverNodeFlags', () => {
  it.each([
    [0.5, 16],
    [2, 16],
    [4, 32],
    [8, 64],
    [16, 128],
    [24, 128],
    [256, 128],
  ])('sizes the semi-spaces to the memory: %d GB → %d MB, starting at half', (memory, semiSpaceMb) => {
    expect(serverNodeFlags(memory * GB)).toEqual([
      `--max-semi-space-size=${semiSpaceMb}`,
      `--min-semi-space-size=${semiSpaceMb / 2}`,
    ])
  })
})

describe('sizedByOperator', () => {
  it('sees a semi-space flag on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(sizedByOperator(['--max-semi-space-size=32'], '')).toBe(true)
    expect(sizedByOperator([], '--inspect --min_semi_space_size=4')).toBe(true)
    expect(sizedByOperator(['--max-old-space-size=4096'], '--enable-source-maps')).toBe(false)
  })
})
