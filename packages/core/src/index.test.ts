import { expect, it } from 'vitest'
import { hello } from './index.js'

it('works', () => expect(hello).toBe(1))
