import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { type RandomSource, uniformBelow, uniformBigInt } from './random-source.ts'

/**
 * Exact Bernoulli trials on rationals, the coins the discrete Laplace and discrete Gaussian samplers
 * toss (Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
 * §5.1). Integers only: no probability is ever rounded to a double.
 */

const TWO_53 = 2 ** 53

/** Bernoulli(num/den) for integers 0 ≤ num ≤ den ≤ 2^53: a uniform integer below den, under num. */
export function bernoulli(num: number, den: number, random: RandomSource): boolean {
  if (!(Number.isInteger(num) && Number.isInteger(den) && num >= 0 && num <= den && den <= TWO_53))
    throw new ProtocolError(
      'invalid-spec',
      `bernoulli: expected integers 0 ≤ num ≤ den ≤ 2^53, got ${describe(num)} / ${describe(den)}`,
    )
  return uniformBelow(den, random) < num
}

/** Bernoulli(num/den) for bigints 0 ≤ num ≤ den: a uniform integer below den, under num. */
export function bernoulliBig(num: bigint, den: bigint, random: RandomSource): boolean {
  if (num < 0n || num > den)
    throw new ProtocolError('invalid-spec', `bernoulliBig: expected 0 ≤ num ≤ den, got ${num} / ${den}`)
  return uniformBigInt(den, random) < num
}

/**
 * Bernoulli(exp(−num/den)) for safe integers num ≥ 0, den ≥ 1 (CKS 2020, Algorithm 1). For γ < 1, toss
 * Bernoulli(γ/k) for k = 1, 2, … until one fails: the number K of tosses is odd with probability
 * Σ_k (−γ)^k/k! = exp(−γ). Beyond, exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)): ⌊γ⌋ trials with γ = 1
 * that must all succeed, then one with the fractional part.
 */
export function bernoulliExp(num: number, den: number, random: RandomSource): boolean {
  if (!(Number.isSafeInteger(num) && Number.isSafeInteger(den) && num >= 0 && den >= 1))
    throw new ProtocolError(
      'invalid-spec',
      `bernoulliExp: expected safe integers num ≥ 0 and den ≥ 1, got ${describe(num)} / ${describe(den)}`,
    )
  return expTrial(num, den, random)
}

/** {@link bernoulliExp} without the argument check, for the samplers' inner loops. */
export function expTrial(num: number, den: number, random: RandomSource): boolean {
  // For integers below 2^53, `%` and the division of an exact multiple are exact.
  const r = num % den
  const whole = (num - r) / den
  for (let i = 0; i < whole; i++) if (!expMinusOneTrial(random)) return false
  return expFractionTrial(r, den, random)
}

/** Bernoulli(exp(−r/den)) for safe integers 0 ≤ r < den: Algorithm 1's loop for γ < 1. */
export function expFractionTrial(r: number, den: number, random: RandomSource): boolean {
  if (r === 0) return true
  for (let k = 1; ; k++) {
    const denK = den * k
    const success =
      denK <= TWO_53
        ? uniformBelow(denK, random) < r
        : uniformBigInt(BigInt(den) * BigInt(k), random) < BigInt(r)
    if (!success) return k % 2 === 1
  }
}

/** {@link bernoulliExp} for bigints num ≥ 0, den ≥ 1, where num or den passes 2^53. */
export function bernoulliExpBig(num: bigint, den: bigint, random: RandomSource): boolean {
  if (num < 0n || den < 1n)
    throw new ProtocolError(
      'invalid-spec',
      `bernoulliExpBig: expected num ≥ 0 and den ≥ 1, got ${num} / ${den}`,
    )
  const r = num % den
  for (let whole = num / den; whole > 0n; whole--) if (!expMinusOneTrial(random)) return false
  if (r === 0n) return true
  let k = 1n
  while (uniformBigInt(den * k, random) < r) k++
  return k % 2n === 1n
}

/** Bernoulli(exp(−1)): Algorithm 1 with γ = 1, whose first toss, Bernoulli(1/1), always succeeds. */
export function expMinusOneTrial(random: RandomSource): boolean {
  let k = 2
  while (uniformBelow(k, random) === 0) k++
  return k % 2 === 1
}
