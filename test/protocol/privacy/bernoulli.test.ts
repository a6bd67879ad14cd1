import {
  bernoulli,
  bernoulliBig,
  bernoulliExp,
  bernoulliExpBig,
  ProtocolError,
  type RandomSource,
  seededSource,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { zScore } from './chi-square.ts'

const TRIALS = 60_000

function frequency(trial: (random: RandomSource) => boolean, seed: number): number {
  const random = seededSource(seed)
  let successes = 0
  for (let i = 0; i < TRIALS; i++) if (trial(random)) successes++
  return successes
}

describe('exact Bernoulli trials (Canonne, Kamath & Steinke 2020, §5.1)', () => {
  it('Bernoulli(num/den) succeeds with frequency num/den, for denominators below and past 2^32 and 2^53', () => {
    const cases: [number, number][] = [
      [1, 3],
      [2, 7],
      [2 ** 32, 3 * 2 ** 32 + 1],
      [2 ** 40, 3 * 2 ** 40],
      [2 ** 52, 2 ** 53],
    ]
    for (const [i, [num, den]] of cases.entries())
      expect(
        Math.abs(
          zScore(
            frequency((r) => bernoulli(num, den, r), i),
            TRIALS,
            num / den,
          ),
        ),
      ).toBeLessThan(4.5)
    const big = frequency((r) => bernoulliBig(2n ** 70n, 3n * 2n ** 70n + 1n, r), 9)
    expect(Math.abs(zScore(big, TRIALS, 1 / 3))).toBeLessThan(4.5)
  })

  it('Bernoulli(exp(−γ)) succeeds with frequency exp(−γ), for γ from 0 to 10/3 (Algorithm 1 and its ⌊γ⌋ trials of exp(−1))', () => {
    const gammas: [number, number][] = [
      [0, 1],
      [1, 3],
      [1, 1],
      [7, 5],
      [5, 2],
      [10, 3],
      [123_456_789, 98_765_432],
    ]
    for (const [i, [num, den]] of gammas.entries()) {
      const p = Math.exp(-num / den)
      const successes = frequency((r) => bernoulliExp(num, den, r), 100 + i)
      if (num === 0) expect(successes).toBe(TRIALS)
      else expect(Math.abs(zScore(successes, TRIALS, p)), `γ = ${num}/${den}`).toBeLessThan(4.5)
    }
  })

  it('Bernoulli(exp(−γ)) with bigints past 2^53 matches exp(−γ) too', () => {
    const gammas: [bigint, bigint][] = [
      [2n ** 70n + 12345n, 2n ** 71n],
      [7n * 10n ** 20n + 1n, 3n * 10n ** 20n],
    ]
    for (const [i, [num, den]] of gammas.entries()) {
      const p = Math.exp(-Number(num) / Number(den))
      const successes = frequency((r) => bernoulliExpBig(num, den, r), 200 + i)
      expect(Math.abs(zScore(successes, TRIALS, p)), `γ = ${num}/${den}`).toBeLessThan(4.5)
    }
  })

  it('a large γ fails fast: exp(−40) is never seen in 60 000 trials', () => {
    expect(frequency((r) => bernoulliExp(40, 1, r), 300)).toBe(0)
  })

  it('refuses a probability outside [0, 1] and a γ that is negative or not an integer ratio', () => {
    const random = seededSource(0)
    expect(() => bernoulli(4, 3, random)).toThrow(/0 ≤ num ≤ den ≤ 2\^53, got number 4 \/ number 3/)
    expect(() => bernoulliBig(-1n, 3n, random)).toThrow(ProtocolError)
    expect(() => bernoulliExp(-1, 3, random)).toThrow(/num ≥ 0 and den ≥ 1/)
    expect(() => bernoulliExp(1.5, 3, random)).toThrow(ProtocolError)
    expect(() => bernoulliExp(1, 0, random)).toThrow(ProtocolError)
    expect(() => bernoulliExpBig(1n, 0n, random)).toThrow(ProtocolError)
  })
})
