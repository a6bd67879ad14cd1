import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { exactRational } from './exact-rational.ts'
import type { RandomSource } from './random-source.ts'

/**
 * Conditional randomized rounding (Kairouz, Liu & Steinke, "The Distributed Discrete Gaussian Mechanism
 * for Federated Learning with Secure Aggregation", ICML 2021, Algorithm 1 step 3 and Theorem 1): a
 * clipped vector, scaled to the integer grid, is rounded coordinate by coordinate up or down, unbiased,
 * and rounded again until its L2 norm is within {@link roundingNormBound}. The rounded vector's norm is
 * then bounded with certainty, which makes that bound the L2 sensitivity of the integer sum.
 */

/** KLS21's choice of β, which makes √(2 ln(1/β)) = 1: each rounding misses the bound with probability ≤ β. */
export const DEFAULT_BETA = Math.exp(-0.5)

/** Roundings tried before giving up: with an input within the clip, all miss with probability ≤ β^1000 < 10^-216. */
const MAX_TRIES = 1000

export type RoundingSpec = {
  /** c: the L2 norm the input is clipped to, in the model's units. */
  readonly clip: number
  /** s: integer-grid units per model unit (a power of two keeps the scaling exact). */
  readonly scale: number
  /** β ∈ [0, 1); 0 keeps only the unconditional bound c·s + √d. Default {@link DEFAULT_BETA}. */
  readonly beta?: number
}

/**
 * The L2 norm a conditionally rounded vector never exceeds (KLS21, Theorem 1):
 * B = min(c·s + √d, √((c·s)² + d/4 + √(2 ln(1/β))·(c·s + √d/2))). The first term holds for any
 * rounding (each coordinate moves by less than 1); the second with probability ≥ 1 − β, which is what
 * the retries make certain. The accountant takes B as the L2 sensitivity in the integer domain.
 */
export function roundingNormBound(spec: RoundingSpec & { readonly dimension: number }): number {
  const { clip, scale, dimension } = spec
  const beta = spec.beta ?? DEFAULT_BETA
  checkSpec(clip, scale, beta, 'roundingNormBound')
  if (!(Number.isSafeInteger(dimension) && dimension >= 1))
    throw new ProtocolError(
      'invalid-spec',
      `roundingNormBound: expected a positive integer dimension, got ${describe(dimension)}`,
    )
  const cs = clip * scale
  const root = Math.sqrt(dimension)
  const always = cs + root
  if (beta === 0) return always
  return Math.min(
    always,
    Math.sqrt(cs * cs + dimension / 4 + Math.sqrt(2 * Math.log(1 / beta)) * (cs + root / 2)),
  )
}

/** ‖v‖₂, summed in doubles: the one norm both the clip and the check against it use. */
export function l2Norm(v: ArrayLike<number>): number {
  let squares = 0
  for (let i = 0; i < v.length; i++) squares += (v[i] as number) * (v[i] as number)
  return Math.sqrt(squares)
}

/**
 * `x`·s rounded to integers, each coordinate up with probability its fractional part (so the rounding
 * is unbiased), drawn again until the L2 norm is at most {@link roundingNormBound} (KLS21, Algorithm 1
 * step 3). `x` must already be clipped: a norm above c (beyond float rounding, {@link CLIP_SLACK}) is
 * refused, since the retries would then have no bound on their number. The output's bound does not rest
 * on the input's norm: the check against it is exact, ‖x̃‖² (an integer) against ⌊B²⌋.
 */
export function conditionalRandomizedRounding(
  x: Float32Array | Float64Array,
  spec: RoundingSpec,
  random: RandomSource,
): Float64Array {
  const { clip, scale } = spec
  const beta = spec.beta ?? DEFAULT_BETA
  checkSpec(clip, scale, beta, 'conditionalRandomizedRounding')
  const norm = l2Norm(x)
  if (!Number.isFinite(norm))
    throw new ProtocolError(
      'not-finite',
      `conditionalRandomizedRounding: expected finite values, got a vector whose norm is ${norm}`,
    )
  if (norm > clip * (1 + CLIP_SLACK))
    throw new ProtocolError(
      'invalid-spec',
      `conditionalRandomizedRounding: expected a vector clipped to L2 norm ≤ ${clip}, got norm ${norm}`,
    )
  const bound = roundingNormBound({ clip, scale, beta, dimension: Math.max(1, x.length) })
  const { num, den } = exactRational(bound, 'the rounding bound')
  const limit = (num * num) / (den * den)
  const out = new Float64Array(x.length)
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    for (let j = 0; j < x.length; j++) out[j] = randomizedRound((x[j] as number) * scale, random)
    if (limit < TWO_52 ? squaresAtMost(out, Number(limit)) : squaresAtMostBig(out, limit)) return out
  }
  throw new ProtocolError(
    'invalid-spec',
    `conditionalRandomizedRounding: ${MAX_TRIES} roundings all exceeded the norm bound ${bound}; with an input of norm ${norm} ≤ clip ${clip} that has probability below 10^-216`,
  )
}

/**
 * The relative excess over c taken as float rounding: x scaled to norm c in doubles can land a few ulps
 * above it. It only changes how often a rounding is retried, never the bound on the result.
 */
export const CLIP_SLACK = 1e-9

const TWO_32 = 2 ** 32
const TWO_52 = 2n ** 52n

/**
 * v rounded to ⌊v⌋ + 1 with probability v − ⌊v⌋, else to ⌊v⌋: E = v. The coin compares a uniform in
 * [0, 1), 32 bits at a time, with the fraction's exact binary digits, so its probability is the fraction
 * itself, not a 53-bit approximation; an integer v draws nothing. Negative v rounds −v, negated, which is
 * the same distribution and keeps every step exact.
 */
export function randomizedRound(v: number, random: RandomSource): number {
  if (v < 0) return -randomizedRound(-v, random)
  const low = Math.floor(v)
  let fraction = v - low // exact for v ≥ 0 (Sterbenz)
  if (fraction === 0) return low
  for (;;) {
    fraction *= TWO_32
    const digit = Math.floor(fraction)
    fraction -= digit
    const w = random.nextUint32()
    if (w < digit) return low + 1
    if (w > digit || fraction === 0) return low
  }
}

/** Σ v_j² ≤ limit for integers v_j and limit < 2^52, stopping at the first partial sum above it. */
function squaresAtMost(v: Float64Array, limit: number): boolean {
  let sum = 0
  for (let j = 0; j < v.length; j++) {
    const a = Math.abs(v[j] as number)
    // a > 2^26 squares past the limit; below, every square and partial sum is an exact integer < 2^53.
    if (a > 67108864) return false
    sum += a * a
    if (sum > limit) return false
  }
  return true
}

function squaresAtMostBig(v: Float64Array, limit: bigint): boolean {
  let sum = 0n
  for (let j = 0; j < v.length; j++) {
    const a = BigInt(v[j] as number)
    sum += a * a
  }
  return sum <= limit
}

function checkSpec(clip: number, scale: number, beta: number, what: string): void {
  if (!(Number.isFinite(clip) && clip > 0))
    throw new ProtocolError('invalid-spec', `${what}: expected a positive finite clip, got ${describe(clip)}`)
  if (!(Number.isFinite(scale) && scale > 0))
    throw new ProtocolError(
      'invalid-spec',
      `${what}: expected a positive finite scale, got ${describe(scale)}`,
    )
  if (!(clip * scale <= 2 ** 50))
    throw new ProtocolError(
      'invalid-spec',
      `${what}: clip × scale = ${clip * scale} is past 2^50, where rounding to integers is no longer exact`,
    )
  if (!(beta >= 0 && beta < 1))
    throw new ProtocolError('invalid-spec', `${what}: expected beta in [0, 1), got ${describe(beta)}`)
}
