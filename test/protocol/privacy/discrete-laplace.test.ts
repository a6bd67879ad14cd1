import { discreteLaplace, ProtocolError, seededSource } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { chiSquare } from './chi-square.ts'

describe('the discrete Laplace distribution (Canonne, Kamath & Steinke 2020, Algorithm 2)', () => {
  for (const t of [1, 3, 10, 1000]) {
    it(`with scale t = ${t} fits P[Y = y] ∝ exp(−|y|/t) (chi-square, 0.1% level)`, () => {
      const random = seededSource(t)
      const samples = Array.from({ length: 30_000 }, () => discreteLaplace(t, random))
      const fit = chiSquare(samples, (y) => Math.exp(-Math.abs(y) / t), { low: -40 * t, high: 40 * t })
      expect(fit.bins).toBeGreaterThan(5)
      expect(fit.statistic).toBeLessThan(fit.critical)
    })
  }

  it('is symmetric and counts zero once: with t = 1, P[0] = (1 − e^−1)/(1 + e^−1)', () => {
    const random = seededSource(11)
    const n = 60_000
    const samples = Array.from({ length: n }, () => discreteLaplace(1, random))
    const zeros = samples.filter((y) => y === 0).length
    const p0 = (1 - Math.exp(-1)) / (1 + Math.exp(-1))
    expect(Math.abs(zeros - n * p0)).toBeLessThan(4.5 * Math.sqrt(n * p0 * (1 - p0)))
    const positive = samples.filter((y) => y > 0).length
    const negative = samples.filter((y) => y < 0).length
    expect(Math.abs(positive - negative)).toBeLessThan(4.5 * Math.sqrt(n))
  })

  it('refuses a scale that is not an integer from 1 to 2^40', () => {
    const random = seededSource(0)
    for (const bad of [0, 2.5, -1, 2 ** 41]) expect(() => discreteLaplace(bad, random)).toThrow(ProtocolError)
    expect(() => discreteLaplace(0, random)).toThrow(/integer scale from 1 to 2\^40, got number 0/)
  })
})
