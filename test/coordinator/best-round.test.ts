import { nextBest, patienceRunOut } from '@fedtune/coordinator'
import { describe, expect, it } from 'vitest'

describe('the best round by validation', () => {
  it('moves only on a strictly higher figure; a tie keeps the earlier round', () => {
    let best = nextBest(null, 1, 0.7)
    best = nextBest(best, 2, 0.8)
    best = nextBest(best, 3, 0.8)
    best = nextBest(best, 4, 0.75)
    expect(best).toEqual({ round: 2, value: 0.8 })
  })

  it('ignores rounds with no figure (a failed round, an undefined AUC)', () => {
    expect(nextBest(null, 1, null)).toBeNull()
    expect(nextBest({ round: 1, value: 0.5 }, 2, Number.NaN)).toEqual({ round: 1, value: 0.5 })
  })

  it('runs out of patience that many rounds after the best', () => {
    const best = { round: 3, value: 0.9 }
    expect(patienceRunOut(best, 7, 5)).toBe(false)
    expect(patienceRunOut(best, 8, 5)).toBe(true)
    expect(patienceRunOut(null, 5, 5)).toBe(true)
    expect(patienceRunOut(best, 1000, null)).toBe(false)
  })
})
