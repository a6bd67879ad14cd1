import {
  composeEvent,
  ddgNoiseForEpsilon,
  emptyRdpAccount,
  epsilonSpent,
  MAX_NOISE_MULTIPLIER,
  noiseForEpsilon,
  ProtocolError,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'

function dpSgdEpsilon(q: number, z: number, steps: number, delta: number): number {
  const event = { kind: 'subsampled-gaussian', samplingRate: q, noiseMultiplier: z, steps } as const
  return epsilonSpent(composeEvent(emptyRdpAccount(), event), delta).epsilon
}

describe('the noise a budget needs (DP-SGD)', () => {
  it('finds z = 1 back from the ε that q = 0.01, z = 1, 1000 steps spend at δ = 1e-5', () => {
    const found = noiseForEpsilon({
      epsilon: 2.101366525420273,
      delta: 1e-5,
      samplingRate: 0.01,
      steps: 1000,
    })
    if (!found.ok) throw new Error('expected a noise multiplier')
    expect(Math.abs(found.noiseMultiplier - 1)).toBeLessThan(2e-6)
    expect(found.order).toBe(7.8)
  })

  it.each([
    [3, 1e-5, 0.004, 12000],
    [1, 1e-5, 0.05, 500],
    [8, 1e-6, 1, 40],
    [0.5, 1e-5, 0.001, 100],
  ])(
    'ε = %s, δ = %s, q = %s, %s steps: the smallest z to 1e-6, and nothing smaller meets the budget',
    (epsilon, delta, q, steps) => {
      const found = noiseForEpsilon({ epsilon, delta, samplingRate: q, steps })
      if (!found.ok) throw new Error('expected a noise multiplier')
      expect(found.epsilon).toBeLessThanOrEqual(epsilon)
      expect(dpSgdEpsilon(q, found.noiseMultiplier, steps, delta)).toBe(found.epsilon)
      expect(dpSgdEpsilon(q, found.noiseMultiplier * (1 - 2e-6), steps, delta)).toBeGreaterThan(epsilon)
    },
  )

  it('one full-batch step within (1, 1e-6) needs z ≈ 4.5309: dp_accounting’s (1, 1e-6) Gaussian', () => {
    const found = noiseForEpsilon({ epsilon: 1, delta: 1e-6, samplingRate: 1, steps: 1 })
    if (!found.ok) throw new Error('expected a noise multiplier')
    // Slightly above 4.530877117, which gives exactly ε = 1 only over dp_accounting's fine test grid.
    expect(found.noiseMultiplier).toBeGreaterThan(4.530877117)
    expect(found.noiseMultiplier / 4.530877117 - 1).toBeLessThan(1e-6)
  })

  it('a smaller budget needs more noise', () => {
    const z = [8, 4, 2, 1, 0.5].map((epsilon) => {
      const found = noiseForEpsilon({ epsilon, delta: 1e-5, samplingRate: 0.01, steps: 2000 })
      return found.ok ? found.noiseMultiplier : Number.NaN
    })
    for (let k = 1; k < z.length; k++) expect(z[k]).toBeGreaterThan(z[k - 1] as number)
  })

  it('says impossible, with the ε spent at the most noise allowed, when no z up to 1000 is enough', () => {
    const found = noiseForEpsilon({ epsilon: 0.001, delta: 1e-5, samplingRate: 0.01, steps: 1000 })
    expect(found).toEqual({
      ok: false,
      reason: 'impossible',
      maxNoiseMultiplier: MAX_NOISE_MULTIPLIER,
      epsilonAtMax: dpSgdEpsilon(0.01, 1000, 1000, 1e-5),
    })
    if (found.ok) return
    expect(found.epsilonAtMax).toBeGreaterThan(0.001)
  })

  it('refuses a budget that is not a positive ε with δ in (0, 1)', () => {
    expect(() => noiseForEpsilon({ epsilon: 0, delta: 1e-5, samplingRate: 0.01, steps: 10 })).toThrow(
      'privacy: epsilon: expected a finite number > 0, got 0',
    )
    expect(() => noiseForEpsilon({ epsilon: 1, delta: 1, samplingRate: 0.01, steps: 10 })).toThrow(
      ProtocolError,
    )
  })
})

describe('the noise a budget needs (distributed discrete Gaussian)', () => {
  const round = { l2Sensitivity: 1024, participants: 100, dimension: 1000 }

  it('with large σ² (τ ≈ 0) is the continuous Gaussian’s: mσ² = (z·Δ₂)² for the z a full-batch plan needs', () => {
    const discrete = ddgNoiseForEpsilon({ ...round, epsilon: 3, delta: 1e-5, rounds: 100 })
    const continuous = noiseForEpsilon({ epsilon: 3, delta: 1e-5, samplingRate: 1, steps: 100 })
    if (!discrete.ok || !continuous.ok) throw new Error('expected both to be possible')
    const z = Math.sqrt(round.participants * discrete.sigmaSquared) / round.l2Sensitivity
    expect(Math.abs(z / continuous.noiseMultiplier - 1)).toBeLessThan(2e-6)
  })

  it('finds the smallest σ² to 1e-6 where τ matters (few units of variance)', () => {
    const small = { l2Sensitivity: 2, participants: 10, dimension: 100 }
    const found = ddgNoiseForEpsilon({ ...small, epsilon: 8, delta: 1e-5, rounds: 1 })
    if (!found.ok) throw new Error('expected a variance')
    const spent = (sigmaSquared: number) =>
      epsilonSpent(
        composeEvent(emptyRdpAccount(), {
          kind: 'distributed-discrete-gaussian',
          ...small,
          sigmaSquared,
          rounds: 1,
        }),
        1e-5,
      ).epsilon
    expect(found.epsilon).toBeLessThanOrEqual(8)
    expect(spent(found.sigmaSquared)).toBe(found.epsilon)
    expect(spent(found.sigmaSquared * (1 - 2e-6))).toBeGreaterThan(8)
  })

  it('answers the theorem’s least variance, 1/4, when that already meets the budget', () => {
    const found = ddgNoiseForEpsilon({
      l2Sensitivity: 1,
      participants: 2,
      dimension: 10,
      epsilon: 50,
      delta: 1e-5,
      rounds: 1,
    })
    expect(found.ok && found.sigmaSquared).toBe(0.25)
  })

  it('says impossible when even a total noise multiplier of 1000 spends too much', () => {
    const found = ddgNoiseForEpsilon({ ...round, epsilon: 0.01, delta: 1e-5, rounds: 100000 })
    expect(found.ok).toBe(false)
    if (found.ok) return
    expect(found.maxSigmaSquared).toBeCloseTo((1000 * 1024) ** 2 / 100, 6)
    expect(found.epsilonAtMax).toBeGreaterThan(0.01)
  })
})
