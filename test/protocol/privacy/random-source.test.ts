import {
  cryptoRandom,
  discreteGaussianVector,
  ProtocolError,
  type RandomSource,
  seededSource,
  uniformBigInt,
  uniformInt,
} from '@fedtune/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { chiSquare, zScore } from './chi-square.ts'

/** A source that returns the given words in turn. */
const scripted = (...ws: number[]): RandomSource => {
  let i = 0
  return { nextUint32: () => ws[i++] as number }
}

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('the platform’s cryptographic source', () => {
  it('gives uniform words: a discrete Gaussian drawn from it has the right mean and variance', () => {
    const v = discreteGaussianVector(40_000, 100, cryptoRandom())
    const mean = v.reduce((a, b) => a + b, 0) / v.length
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length
    // Not seeded: generous bounds (the mean's sd is 0.05, the variance's about 0.7).
    expect(Math.abs(mean)).toBeLessThan(0.4)
    expect(Math.abs(variance - 100)).toBeLessThan(6)
  })

  it('spans many batches of words without repeating one', () => {
    const source = cryptoRandom()
    const seen = new Set<number>()
    for (let i = 0; i < 20_000; i++) seen.add(source.nextUint32())
    expect(seen.size).toBeGreaterThan(19_990)
  })

  it('refuses with ProtocolError "unsupported" where crypto.getRandomValues is missing, never a weaker source', () => {
    vi.stubGlobal('crypto', {})
    expect(() => cryptoRandom()).toThrow(
      expect.objectContaining({
        code: 'unsupported',
        message: expect.stringMatching(/cryptographic random source .* refusing/),
      }),
    )
    vi.stubGlobal('crypto', undefined)
    expect(() => cryptoRandom()).toThrow(/crypto.getRandomValues/)
  })
})

describe('uniform integers below n, by rejection', () => {
  it('are uniform for small n (Lemire’s multiply-and-shift)', () => {
    for (const n of [2, 3, 7, 10]) {
      const source = seededSource(n)
      const draws = Array.from({ length: 20_000 }, () => uniformInt(n, source))
      const fit = chiSquare(draws, () => 1, { low: 0, high: n - 1 }, 0)
      expect(fit.bins).toBe(n)
      expect(fit.statistic).toBeLessThan(fit.critical)
    }
  })

  it('have no modulo bias where it would be largest: n = 3·2^30, where w mod n would favour [0, 2^30) twice over', () => {
    const n = 3 * 2 ** 30
    const source = seededSource(1)
    const trials = 60_000
    let low = 0
    for (let i = 0; i < trials; i++) if (uniformInt(n, source) < 2 ** 30) low++
    expect(Math.abs(zScore(low, trials, 1 / 3))).toBeLessThan(4.5)
  })

  it('reach past 2^32 in doubles (two words) and past 2^53 in bigints, uniformly', () => {
    const source = seededSource(2)
    const trials = 30_000
    const n = 3 * 2 ** 40
    let low = 0
    for (let i = 0; i < trials; i++) {
      const x = uniformInt(n, source)
      expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true)
      if (x < 2 ** 40) low++
    }
    expect(Math.abs(zScore(low, trials, 1 / 3))).toBeLessThan(4.5)
    const big = 3n * 2n ** 80n
    let lowBig = 0
    for (let i = 0; i < trials; i++) {
      const x = uniformBigInt(big, source)
      expect(x >= 0n && x < big).toBe(true)
      if (x < 2n ** 80n) lowBig++
    }
    expect(Math.abs(zScore(lowBig, trials, 1 / 3))).toBeLessThan(4.5)
  })

  it('draw again a word that falls in the biased remainder', () => {
    // n = 3: 2^32 mod 3 = 1, so exactly one word value of each low part is refused; w = 0 gives low 0 < 1.
    expect(uniformInt(3, scripted(0, 0x80000000))).toBe(1)
    // n = 3·2^30 on the masked path: the top two bits 11 give a value ≥ n, drawn again.
    expect(uniformInt(3 * 2 ** 30, scripted(0xffffffff, 5))).toBe(5)
  })

  it('refuse an n that is not an integer from 1 to 2^53', () => {
    const source = seededSource(0)
    for (const bad of [0, -3, 1.5, 2 ** 53 + 2, Number.NaN])
      expect(() => uniformInt(bad, source)).toThrow(ProtocolError)
    expect(() => uniformInt(0, source)).toThrow(/integer n from 1 to 2\^53 .*got number 0/)
    expect(() => uniformBigInt(0n, source)).toThrow(/n ≥ 1, got 0/)
  })
})
