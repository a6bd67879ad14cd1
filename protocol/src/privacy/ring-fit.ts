import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { MAX_SIGMA_SQUARED } from './discrete-gaussian.ts'
import { noiseShareVariance } from './participant-noise.ts'
import { roundingNormBound } from './randomized-rounding.ts'

/**
 * Whether the noisy integer sum fits the 32-bit ring. Secure aggregation sums mod 2^32 and the
 * coordinator reads each word as a signed integer, so a coordinate of the true sum outside
 * [−2^31, 2^31) wraps around ("modular clipping", KLS21 §4) and arrives as garbage of the opposite sign.
 */

const HALF_RING = 2 ** 31

export type RingFitSpec = {
  /** P: the most participants whose words one sum adds. */
  readonly participants: number
  /** c: the L2 clip norm, in the model's units. */
  readonly clip: number
  /** s: integer-grid units per model unit. */
  readonly scale: number
  /** σ_i²: each participant's discrete Gaussian variance per coordinate, in grid units². */
  readonly sigmaSquared: number
  /** d: coordinates per update. */
  readonly dimension: number
  /** β of the conditional rounding (randomized-rounding.ts); default e^−0.5. */
  readonly beta?: number
}

/**
 * An upper bound on the probability that any coordinate of the sum leaves the signed 32-bit range.
 * Each participant's rounded vector has L2 norm ≤ B (roundingNormBound), so each integer coordinate is
 * at most ⌊B⌋ in size and P of them at most P·⌊B⌋. The noise of P participants is a sum of P independent
 * N_Z(0, σ_i²), each σ_i²-subgaussian (Canonne, Kamath & Steinke 2020), so P·σ_i²-subgaussian: it passes
 * m = 2^31 − P·⌊B⌋ in size with probability ≤ 2·exp(−m²/(2·P·σ_i²)), and a union bound over the d
 * coordinates gives d·2·exp(−m²/(2·P·σ_i²)). 1 when the signal alone can reach the edge.
 */
export function ringOverflowProbability(spec: RingFitSpec): number {
  const { participants, sigmaSquared, dimension } = spec
  if (!(Number.isSafeInteger(participants) && participants >= 1))
    throw new ProtocolError(
      'invalid-spec',
      `ringOverflowProbability: expected a positive integer participant count, got ${describe(participants)}`,
    )
  if (!(Number.isFinite(sigmaSquared) && sigmaSquared >= 0))
    throw new ProtocolError(
      'invalid-spec',
      `ringOverflowProbability: expected a finite sigmaSquared ≥ 0, got ${describe(sigmaSquared)}`,
    )
  const bound = roundingNormBound(spec)
  const margin = HALF_RING - participants * Math.floor(bound)
  if (margin <= 0) return 1
  if (sigmaSquared === 0) return 0
  return Math.min(1, 2 * dimension * Math.exp(-(margin * margin) / (2 * participants * sigmaSquared)))
}

export type RingPlanSpec = {
  /** P: the most participants in a round. */
  readonly participants: number
  /** m: the fewest survivors whose sum must still carry the full noise. */
  readonly minParticipants: number
  /** c: the L2 clip norm, in the model's units. */
  readonly clip: number
  /** z: the noise multiplier; the sum of m survivors carries noise of standard deviation z·c (model units). */
  readonly noiseMultiplier: number
  /** d: coordinates per update. */
  readonly dimension: number
  /** The largest overflow probability accepted; default 10^-9. */
  readonly target?: number
  /** β of the conditional rounding; default e^−0.5. */
  readonly beta?: number
}

export type RingPlan = {
  /** s: the largest power of two that fits. */
  readonly scale: number
  /**
   * σ_i² = z²·c²·s²/m, rounded up by roundVarianceUp (to an integer the exact sampler keeps in doubles)
   * up to 2^52: the variance each participant adds, and the one the accountant must use.
   */
  readonly sigmaSquared: number
  /** B: the L2 norm bound of a rounded update at this scale, the sensitivity in grid units. */
  readonly bound: number
  /** {@link ringOverflowProbability} at this scale, ≤ target. */
  readonly overflowProbability: number
}

/** The powers of two tried, from 2^40 down to 2^-40 grid units per model unit. */
const LARGEST_EXPONENT = 40
const SMALLEST_EXPONENT = -40

/**
 * The finest fixed point at which the noisy sum fits the ring: the largest scale s = 2^k with
 * σ_i = z·c·s/√m and {@link ringOverflowProbability} ≤ target. A finer scale shrinks the rounding error
 * relative to the signal; the noise, defined relative to c, grows with s as the signal does, and the
 * overflow probability grows with s, so the first power of two from above that fits is the largest.
 */
export function ringScale(spec: RingPlanSpec): RingPlan {
  const { participants, minParticipants, clip, noiseMultiplier, dimension } = spec
  const target = spec.target ?? 1e-9
  if (!(Number.isSafeInteger(minParticipants) && minParticipants >= 1 && minParticipants <= participants))
    throw new ProtocolError(
      'invalid-spec',
      `ringScale: expected minParticipants an integer from 1 to participants = ${describe(participants)}, got ${describe(minParticipants)}`,
    )
  if (!(Number.isFinite(noiseMultiplier) && noiseMultiplier > 0))
    throw new ProtocolError(
      'invalid-spec',
      `ringScale: expected a positive noise multiplier, got ${describe(noiseMultiplier)}`,
    )
  if (!(target > 0 && target < 1))
    throw new ProtocolError(
      'invalid-spec',
      `ringScale: expected a target probability in (0, 1), got ${describe(target)}`,
    )
  if (!(Number.isFinite(clip) && clip > 0))
    throw new ProtocolError(
      'invalid-spec',
      `ringScale: expected a positive finite clip, got ${describe(clip)}`,
    )
  const { beta } = spec
  for (let k = LARGEST_EXPONENT; k >= SMALLEST_EXPONENT; k--) {
    const scale = 2 ** k
    const cs = clip * scale
    if (participants * cs >= HALF_RING || cs > 2 ** 50) continue
    // Past 2^52 every double is an integer, and the sampler takes its bigint path whatever the value.
    const sigmaSquared = noiseShareVariance(noiseMultiplier, cs, minParticipants)
    if (sigmaSquared > MAX_SIGMA_SQUARED) continue
    const fit = {
      participants,
      clip,
      scale,
      sigmaSquared,
      dimension,
      ...(beta === undefined ? {} : { beta }),
    }
    const overflowProbability = ringOverflowProbability(fit)
    if (overflowProbability <= target)
      return { scale, sigmaSquared, bound: roundingNormBound(fit), overflowProbability }
  }
  throw new ProtocolError(
    'invalid-spec',
    `ringScale: no scale from 2^${LARGEST_EXPONENT} down to 2^${SMALLEST_EXPONENT} keeps the sum of ${participants} participants' ${dimension} coordinates (clip ${clip}, noise multiplier ${noiseMultiplier}, survivors ≥ ${minParticipants}) inside 32 bits with probability ≥ 1 − ${target}; fewer participants or coordinates would`,
  )
}
