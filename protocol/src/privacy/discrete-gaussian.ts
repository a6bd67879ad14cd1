import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { bernoulliExpBig, expTrial } from './bernoulli.ts'
import { laplaceDraw } from './discrete-laplace.ts'
import { exactRational, gcd, isqrt, type Rational } from './exact-rational.ts'
import type { RandomSource } from './random-source.ts'

/** The largest variance taken: σ = 2^32, more noise than a 32-bit ring can hold. */
export const MAX_SIGMA_SQUARED = 2 ** 64

/** One draw from a fixed N_Z(0, σ²), its set-up (σ² as a rational, the Laplace scale) done once. */
export type DiscreteGaussianSampler = (random: RandomSource) => number

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const MAX_SAFE_BIG = BigInt(MAX_SAFE)

/**
 * The discrete Gaussian N_Z(0, σ²): P[X = x] ∝ exp(−x²/(2σ²)) on ℤ, sampled exactly (Canonne, Kamath &
 * Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020, Algorithm 3): a discrete
 * Laplace proposal Y of scale t = ⌊σ⌋ + 1, kept with probability exp(−(|Y| − σ²/t)²/(2σ²)).
 *
 * With σ² = n/d and σ²/t = p/q in lowest terms that exponent is the rational d·(q·|Y| − p)² / (2·n·q²),
 * tossed with integers only (no floating-point number enters any accept or reject decision): in
 * doubles while every integer stays below 2^53, in bigints beyond, at about a third of the speed. The
 * doubles suffice up to σ ≈ 7000 for any integer σ², and up to σ ≈ 10^7 when σ² is a multiple of t,
 * which {@link roundVarianceUp} arranges.
 *
 * σ² is the exact value of the double given (a dyadic rational), or a {@link Rational}. σ² = 0 gives 0
 * and draws nothing.
 */
export function discreteGaussianSampler(sigmaSquared: number | Rational): DiscreteGaussianSampler {
  const { num: n, den: d } = exactRational(sigmaSquared, 'discreteGaussian: sigmaSquared')
  if (n > BigInt(MAX_SIGMA_SQUARED) * d)
    throw new ProtocolError(
      'invalid-spec',
      `discreteGaussian: expected sigmaSquared ≤ 2^64, got ${typeof sigmaSquared === 'number' ? describe(sigmaSquared) : `${n}/${d}`}`,
    )
  if (n === 0n) return () => 0
  // ⌊√(n/d)⌋ = ⌊√⌊n/d⌋⌋: k² ≤ n/d holds exactly when k² ≤ ⌊n/d⌋, k² being an integer.
  const tBig = isqrt(n / d) + 1n
  const t = Number(tBig)
  const g = gcd(n, d * tBig)
  const p = n / g
  const q = (d * tBig) / g
  const h = gcd(d, 2n * n * q * q)
  const e = d / h
  const den = (2n * n * q * q) / h
  // The double path: e·c² with c = q·|Y| − p, kept below 2^53 by |c| ≤ cLimit.
  const small = den <= MAX_SAFE_BIG && e <= MAX_SAFE_BIG && q <= MAX_SAFE_BIG && p <= MAX_SAFE_BIG
  const [eSmall, qSmall, pSmall, denSmall] = [Number(e), Number(q), Number(p), Number(den)]
  const cLimit = small ? Number(isqrt(MAX_SAFE_BIG / e)) : 0
  return (random) => {
    for (;;) {
      const y = laplaceDraw(t, random)
      const abs = y < 0 ? -y : y
      if (small) {
        const qy = qSmall * abs
        const c = qy - pSmall
        if (qy <= MAX_SAFE && c <= cLimit && c >= -cLimit) {
          if (expTrial(eSmall * (c * c), denSmall, random)) return y
          continue
        }
      }
      const c = q * BigInt(abs) - p
      if (bernoulliExpBig(e * c * c, den, random)) return y
    }
  }
}

/** One draw from N_Z(0, σ²); for many, {@link discreteGaussianVector} sets the sampler up once. */
export function discreteGaussian(sigmaSquared: number | Rational, random: RandomSource): number {
  return discreteGaussianSampler(sigmaSquared)(random)
}

/**
 * `length` independent draws from N_Z(0, σ²). Every entry is an integer, held exactly (a draw past 2^53
 * would take σ = 2^32 and a deviation of 2^21 σ). Below σ ≈ 10^8 the entries would fit an Int32Array
 * as well, except with probability below exp(−200); nothing here truncates them.
 */
export function discreteGaussianVector(
  length: number,
  sigmaSquared: number | Rational,
  random: RandomSource,
): Float64Array {
  if (!(Number.isSafeInteger(length) && length >= 0))
    throw new ProtocolError(
      'invalid-spec',
      `discreteGaussianVector: expected a non-negative integer length, got ${describe(length)}`,
    )
  const draw = discreteGaussianSampler(sigmaSquared)
  const out = new Float64Array(length)
  for (let i = 0; i < length; i++) out[i] = draw(random)
  return out
}

/**
 * The integer variance ≥ σ² that keeps {@link discreteGaussianSampler} in doubles: a multiple of its own
 * Laplace scale t = ⌊σ⌋ + 1, so that σ²/t is an integer. It exceeds σ² by at most about 2σ: more noise
 * than asked, never less, and the accountant must take this value, not σ².
 */
export function roundVarianceUp(sigmaSquared: number): number {
  if (!(Number.isFinite(sigmaSquared) && sigmaSquared >= 0 && sigmaSquared <= 2 ** 52))
    throw new ProtocolError(
      'invalid-spec',
      `roundVarianceUp: expected a variance from 0 to 2^52, got ${describe(sigmaSquared)}`,
    )
  const n = Math.ceil(sigmaSquared)
  if (n === 0) return 0
  let root = Math.floor(Math.sqrt(n))
  while (root * root > n) root--
  while ((root + 1) * (root + 1) <= n) root++
  const t = root + 1
  const m = (n - (n % t)) / t + (n % t === 0 ? 0 : 1)
  // t·m < t² keeps ⌊√(t·m)⌋ + 1 = t; when n is too close to t² for that, t·(t + 1) has scale t + 1.
  return m <= t - 1 ? t * m : t * (t + 1)
}
