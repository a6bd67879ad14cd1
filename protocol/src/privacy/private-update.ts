import { describe } from '../describe.ts'
import { ProtocolError } from '../errors.ts'
import { discreteGaussianSampler } from './discrete-gaussian.ts'
import type { Rational } from './exact-rational.ts'
import { cryptoRandom, type RandomSource } from './random-source.ts'
import { conditionalRandomizedRounding, l2Norm } from './randomized-rounding.ts'

/**
 * A participant's update under participant-level differential privacy, as it goes into secure
 * aggregation: the distributed discrete Gaussian mechanism (Kairouz, Liu & Steinke, ICML 2021,
 * Algorithm 1, without the random rotation). Each participant adds its own share of the noise in the
 * integer domain before masking, so the coordinator only ever unmasks a sum that carries it.
 */
export type PrivateUpdateSpec = {
  /** c: the L2 norm each update is clipped to, in the model's units. */
  readonly clip: number
  /** s: integer-grid units per model unit (ring-fit.ts chooses it). */
  readonly scale: number
  /** σ_i²: this participant's discrete Gaussian variance per coordinate, in grid units², exactly. */
  readonly sigmaSquared: number | Rational
  /** β of the conditional rounding; default e^−0.5. */
  readonly beta?: number
}

/**
 * The words a participant masks: clip Δ to L2 norm c, scale by s and round conditionally
 * (randomized-rounding.ts), add N_Z(0, σ_i²) to every coordinate, and store each integer mod 2^32 (two's
 * complement, as Uint32Array stores wrap). The noise comes from `random`, by default the platform's
 * cryptographic source; a source that fails (or a platform without one) throws, and nothing is returned:
 * there is no path to an un-noised update.
 */
export function privateUpdateWords(
  delta: Float32Array,
  spec: PrivateUpdateSpec,
  random: RandomSource = cryptoRandom(),
): Uint32Array {
  const { clip, scale, sigmaSquared, beta } = spec
  const draw = discreteGaussianSampler(sigmaSquared)
  const rounded = conditionalRandomizedRounding(
    clipToNorm(delta, clip),
    { clip, scale, ...(beta === undefined ? {} : { beta }) },
    random,
  )
  const words = new Uint32Array(rounded.length)
  for (let j = 0; j < rounded.length; j++) words[j] = (rounded[j] as number) + draw(random)
  return words
}

/**
 * `v` in doubles, scaled down if needed so that {@link l2Norm} of the result is at most `clip` (scaling
 * by clip/‖v‖ can land a rounding error above it; the result is then shrunk by 2^-40 until it is not).
 */
export function clipToNorm(v: Float32Array | Float64Array, clip: number): Float64Array {
  if (!(Number.isFinite(clip) && clip > 0))
    throw new ProtocolError(
      'invalid-spec',
      `clipToNorm: expected a positive finite clip, got ${describe(clip)}`,
    )
  const norm = l2Norm(v)
  if (!Number.isFinite(norm))
    throw new ProtocolError(
      'not-finite',
      `clipToNorm: expected finite values, got a vector whose norm is ${norm}`,
    )
  const out = Float64Array.from(v)
  if (norm <= clip) return out
  const factor = clip / norm
  for (let j = 0; j < out.length; j++) out[j] = (out[j] as number) * factor
  while (l2Norm(out) > clip) for (let j = 0; j < out.length; j++) out[j] = (out[j] as number) * (1 - 2 ** -40)
  return out
}

/**
 * The coordinator's reading of the unmasked sum of {@link privateUpdateWords}: each word as a signed
 * 32-bit integer, divided by s·survivors, the noisy mean of the survivors' clipped updates. Exact as
 * long as the sum stayed inside the ring (ring-fit.ts bounds the chance it did not).
 */
export function decodePrivateMean(
  sum: Uint32Array,
  spec: { readonly scale: number; readonly survivors: number },
): Float64Array {
  const { scale, survivors } = spec
  if (!(Number.isFinite(scale) && scale > 0))
    throw new ProtocolError(
      'invalid-spec',
      `decodePrivateMean: expected a positive finite scale, got ${describe(scale)}`,
    )
  if (!(Number.isSafeInteger(survivors) && survivors >= 1))
    throw new ProtocolError(
      'invalid-spec',
      `decodePrivateMean: expected a positive integer survivor count, got ${describe(survivors)}`,
    )
  const divisor = scale * survivors
  const mean = new Float64Array(sum.length)
  for (let j = 0; j < sum.length; j++) mean[j] = ((sum[j] as number) | 0) / divisor
  return mean
}
