import {
  discreteGaussian,
  discreteGaussianSampler,
  discreteGaussianVector,
  exactRational,
  ProtocolError,
  type RandomSource,
  type Rational,
  roundVarianceUp,
  seededSource,
  standardNormal,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { chiSquare } from './chi-square.ts'

/** The fit of samples to N_Z(0, σ²), over ±7σ (+ 5), beyond which the pmf's mass is below 10^-11. */
function fitToDiscreteGaussian(samples: ArrayLike<number>, sigmaSquared: number) {
  const reach = Math.ceil(7 * Math.sqrt(sigmaSquared)) + 5
  return chiSquare(samples, (x) => Math.exp(-(x * x) / (2 * sigmaSquared)), { low: -reach, high: reach })
}

describe('the exact discrete Gaussian N_Z(0, σ²) (Canonne, Kamath & Steinke 2020, Algorithm 3)', () => {
  const variances: [number | Rational, number, number][] = [
    // σ², its value as a double for the pmf, samples
    [0.25, 0.25, 30_000],
    [1, 1, 30_000],
    [7.3, 7.3, 30_000],
    [100, 100, 30_000],
    [1e4, 1e4, 30_000],
    // σ = 10^5 and σ² ≈ 3.3·10^9 as a rational: the bigint path
    [1e10, 1e10, 20_000],
    [{ num: 10n ** 10n + 1n, den: 3n }, (1e10 + 1) / 3, 20_000],
    // σ ≈ 10^6 on the double path, by roundVarianceUp
    [roundVarianceUp(1e12), roundVarianceUp(1e12), 20_000],
  ]
  for (const [sigmaSquared, value, n] of variances) {
    const name =
      typeof sigmaSquared === 'number' ? String(sigmaSquared) : `${sigmaSquared.num}/${sigmaSquared.den}`
    it(`fits the exact pmf at σ² = ${name} (chi-square over binned counts, 0.1% level, seeded)`, () => {
      const samples = discreteGaussianVector(n, sigmaSquared, seededSource(Math.round(value) + 1))
      const fit = fitToDiscreteGaussian(samples, value)
      expect(fit.bins).toBeGreaterThanOrEqual(3)
      expect(fit.statistic).toBeLessThan(fit.critical)
    })
  }

  it('the same chi-square tells it from a rounded normal at σ² = 0.25 and from N_Z(0, 1.1σ²) at σ² = 100', () => {
    const random = seededSource(5)
    const rounded = Array.from({ length: 30_000 }, () => Math.round(0.5 * standardNormal(random)))
    const roundedFit = fitToDiscreteGaussian(rounded, 0.25)
    expect(roundedFit.statistic).toBeGreaterThan(roundedFit.critical)
    const wider = discreteGaussianVector(30_000, 110, random)
    const widerFit = fitToDiscreteGaussian(wider, 100)
    expect(widerFit.statistic).toBeGreaterThan(widerFit.critical)
  })

  it('gives the pinned first draws for seed 2026 (a change in the algorithm or its use of words is noticed)', () => {
    const first = (s: number) => Array.from(discreteGaussianVector(10, s, seededSource(2026)))
    expect(first(1)).toEqual([1, -2, -1, 0, 1, 0, 0, 2, 0, -1])
    expect(first(7.3)).toEqual([-1, 0, 1, 4, 4, 3, 1, -5, -3, -1])
    expect(first(1e6)).toEqual([-460, -1258, -11, 423, -1095, 1128, -236, 250, 57, 68])
    expect(first(1e12)).toEqual([
      -459955, 263541, 6185, -269088, 67201, 1090493, -381399, 422703, 129205, -1215542,
    ])
    expect(first(roundVarianceUp(1e12))).toEqual([
      -459955, -1257544, -11537, 422703, -1094009, 1127363, -235788, 250391, 57281, 68125,
    ])
  })

  it('has the variance of N_Z(0, σ²) at σ ≈ 10^6 (sample variance within 3%)', () => {
    const sigmaSquared = roundVarianceUp(1e12)
    const v = discreteGaussianVector(20_000, sigmaSquared, seededSource(17))
    const variance = v.reduce((a, b) => a + b * b, 0) / v.length
    expect(Math.abs(variance / sigmaSquared - 1)).toBeLessThan(0.03)
  })

  it('takes σ² exactly: a double as its dyadic value, an equal rational with the same draws', () => {
    expect(exactRational(7.3, 'σ²')).toEqual({ num: 8219069319951155n, den: 2n ** 50n })
    expect(exactRational(2.5, 'σ²')).toEqual({ num: 5n, den: 2n })
    expect(exactRational({ num: 10n, den: 4n }, 'σ²')).toEqual({ num: 5n, den: 2n })
    const asNumber = discreteGaussianVector(200, 2.5, seededSource(3))
    const asRational = discreteGaussianVector(200, { num: 15n, den: 6n }, seededSource(3))
    expect(asRational).toEqual(asNumber)
  })

  it('with σ² = 0 gives zeros and draws no randomness', () => {
    const untouched: RandomSource = {
      nextUint32: () => {
        throw new Error('no word should be drawn for σ² = 0')
      },
    }
    expect(Array.from(discreteGaussianVector(5, 0, untouched))).toEqual([0, 0, 0, 0, 0])
    expect(discreteGaussian({ num: 0n, den: 7n }, untouched)).toBe(0)
  })

  it('refuses a variance that is negative, not finite, or past 2^64, and a bad length', () => {
    const random = seededSource(0)
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 65])
      expect(() => discreteGaussianSampler(bad)).toThrow(ProtocolError)
    expect(() => discreteGaussianSampler(-1)).toThrow(/finite number ≥ 0, got number -1/)
    expect(() => discreteGaussianSampler({ num: 1n, den: 0n })).toThrow(/num ≥ 0 and den ≥ 1/)
    expect(() => discreteGaussianSampler(2 ** 65)).toThrow(/sigmaSquared ≤ 2\^64/)
    expect(() => discreteGaussianVector(-1, 1, random)).toThrow(/non-negative integer length/)
  })
})

describe('roundVarianceUp: the integer variance that keeps the sampler in doubles', () => {
  it('is at least σ², a multiple of its own ⌊σ⌋ + 1, and at most about 2σ more', () => {
    const random = seededSource(8)
    const values = [0.5, 1, 2, 3, 7.3, 99, 100, 1e6 + 0.5, 2 ** 40 + 3]
    for (let i = 0; i < 300; i++) values.push(2 ** (40 * (random.nextUint32() / 2 ** 32)) * 1.37)
    for (const s of values) {
      const r = roundVarianceUp(s)
      const t = Math.floor(Math.sqrt(r)) + 1
      expect(Number.isInteger(r) && r >= s, `σ² = ${s}`).toBe(true)
      expect(r % t, `σ² = ${s} → ${r}`).toBe(0)
      expect(r - s).toBeLessThanOrEqual(2 * Math.sqrt(s) + 3)
    }
    expect(roundVarianceUp(0)).toBe(0)
    expect(roundVarianceUp(3)).toBe(6)
    expect(roundVarianceUp(1e12)).toBe(1_000_001_000_000)
  })

  it('refuses a variance outside [0, 2^52]', () => {
    expect(() => roundVarianceUp(-1)).toThrow(/variance from 0 to 2\^52, got number -1/)
    expect(() => roundVarianceUp(2 ** 53)).toThrow(ProtocolError)
  })
})
