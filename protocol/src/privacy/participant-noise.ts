import { ProtocolError } from '../errors.ts'
import { roundVarianceUp } from './discrete-gaussian.ts'
import type { ParticipantPrivacy } from './privacy-settings.ts'
import { roundingNormBound } from './randomized-rounding.ts'

/**
 * One participant's share of the distributed discrete Gaussian in a round of a task with
 * `privacy.unit: "participant"`, in the secure sum's integer units (grid units of the round's
 * fixed-point scale s). The participant adds exactly `sigmaSquared` to every coordinate; the
 * accountants (the participant's own and the coordinator's) take the same two numbers.
 */
export type ParticipantNoise = {
  /**
   * σ_i² = (z·C·s)² / minParticipants, rounded up by `roundVarianceUp` to an integer the exact sampler
   * keeps in doubles (up to 2^52; above, every double is an integer already). Any minParticipants
   * survivors then carry a total variance of at least (z·C·s)²: noise of standard deviation z·C in the
   * model's units, on a sum whose one-participant sensitivity is C.
   */
  readonly sigmaSquared: number
  /**
   * Δ₂: the L2 norm a participant's clipped, conditionally rounded update never exceeds, in grid units
   * (`roundingNormBound`, Kairouz, Liu & Steinke 2021, Theorem 1): the sensitivity the DDG accountant
   * takes, a little above C·s for the rounding.
   */
  readonly l2Sensitivity: number
}

/**
 * The noise one participant adds at fixed-point scale `scale` to an update of `dimension` words,
 * and its sensitivity: the one formula the participant's noise, its budget and the coordinator's
 * accountant share (so that what is accounted is exactly what is drawn).
 */
export function participantNoise(
  privacy: ParticipantPrivacy,
  scale: number,
  dimension: number,
): ParticipantNoise {
  if (!(Number.isFinite(scale) && scale > 0))
    throw new ProtocolError(
      'invalid-spec',
      `participantNoise: expected a positive finite fixed-point scale, got ${scale}`,
    )
  const { noiseMultiplier: z, clipNorm: c, minParticipants: m } = privacy
  return {
    sigmaSquared: noiseShareVariance(z, c * scale, m),
    l2Sensitivity: roundingNormBound({ clip: c, scale, dimension }),
  }
}

/**
 * σ_i² of one share: (z·(c·s))² / m, rounded up by `roundVarianceUp` up to 2^52 (above, every double
 * is an integer already). The one place the formula is written: the participant's noise (above) and
 * the coordinator's ring plan (ring-fit.ts) both call it, so they agree to the last bit.
 */
export function noiseShareVariance(
  noiseMultiplier: number,
  clipTimesScale: number,
  minParticipants: number,
): number {
  const wanted = (noiseMultiplier * clipTimesScale) ** 2 / minParticipants
  return wanted <= 2 ** 52 ? roundVarianceUp(wanted) : wanted
}
