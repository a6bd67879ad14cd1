import { ProtocolError } from './errors.ts'
import {
  type EvaluationCounts,
  evaluationCountsLength,
  flattenEvaluationCounts,
  type PooledEvaluation,
  parseEvaluationCounts,
  readPooledEvaluation,
} from './evaluation-counts.ts'
import { participantNoise } from './privacy/participant-noise.ts'
import type { ParticipantPrivacy, PrivacySettings } from './privacy/privacy-settings.ts'
import { privateUpdateWords } from './privacy/private-update.ts'
import { cryptoRandom, type RandomSource } from './privacy/random-source.ts'
import { decodeWeightedSum, encodeWeighted, type FixedPoint } from './secagg/fixed-point.ts'

/**
 * What one participant puts into the securely aggregated vector, and what the coordinator reads
 * out of the sum: [n·clip(Δ) (one word per head parameter), n, n per class…, evaluation counts
 * (evaluation-counts.ts: the received global head on the participant's validation split)].
 * Everything the coordinator learns about a round is in this sum: the weighted update and example
 * count FedAvg needs, the federation's label mix, and the pooled counts of how the global head did
 * on the participants' own data; no participant's own numbers.
 */
export type SecureContribution = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  readonly evaluation: EvaluationCounts
}

export type SecureSum = {
  /**
   * [Σ n·clip(Δ), Σ n], the layout of `weightedSum` in fedavg.ts. In a private task every
   * participant weighs 1: [Σ Δ (with the noise), survivors].
   */
  readonly weightedSum: Float64Array
  /** Σ n; in a private task the number of contributors. */
  readonly examples: number
  /** The federation's label counts; null in a private task, whose sum carries none. */
  readonly labelCounts: number[] | null
  /**
   * The summed evaluation counts, or why they do not add up: one participant can send inconsistent
   * counts, and must not be able to fail the round (or learn anything) by it.
   */
  readonly evaluation: PooledEvaluation
}

/**
 * Words in the masked vector for a head of `params` parameters and `classes` labels. A private task's
 * vector (`private: true`) is [Δ words…, 1]: no example, label or evaluation counts, which would
 * reveal what differential privacy protects unless they had noise of their own.
 */
export function secureVectorLength(params: number, classes: number, private_ = false): number {
  return private_ ? params + 1 : params + 1 + classes + evaluationCountsLength(classes)
}

/** Why a private round has no pooled evaluation: its sum carries no counts. */
export const PRIVATE_NO_EVALUATION =
  "a private task keeps the participants' evaluation counts out of the sum (they are measured on patients' data)"

/**
 * What a participant of a task with `privacy.unit: "example"` masks: its update (private already:
 * trained with DP-SGD) clipped to the aggregation's bound and rounded, weight 1, and the word 1 that
 * counts contributors: [round(clip(Δ)·scale)…, 1].
 */
export function encodeExamplePrivateContribution(delta: Float32Array, fp: FixedPoint): Uint32Array {
  return encodeWeighted(delta, 1, [], fp)
}

/**
 * What a participant of a task with `privacy.unit: "participant"` masks: its update clipped to the
 * task's C, scaled by the round's fixed-point scale s, conditionally rounded and noised with its share
 * of the distributed discrete Gaussian, σ_i² from {@link participantNoise} (Kairouz, Liu & Steinke,
 * ICML 2021, Algorithm 1), all before masking; weight 1 and the word 1 that counts contributors:
 * [rounded Δ + noise…, 1]. The noise draws from `random`, the platform's cryptographic source unless
 * a test says otherwise: without one this throws and nothing is encoded, so no un-noised update can
 * leave. The coordinator reads the sum as `decodeSecureSum(…, true)` does: Σ (Δ + noise) / s.
 */
export function encodeParticipantPrivateContribution(
  delta: Float32Array,
  privacy: ParticipantPrivacy,
  fp: FixedPoint,
  random: RandomSource = cryptoRandom(),
): Uint32Array {
  // The coordinator's fixed point for such a round clips to C with weight 1 (docs/privacy.md); another
  // one means it decodes or sizes the ring for something else than what is sent.
  if (fp.clipNorm !== privacy.clipNorm || fp.maxExamples !== 1)
    throw new ProtocolError(
      'invalid-spec',
      `participant-level privacy: expected the round's fixed point to clip to the task's C = ${privacy.clipNorm} with maxExamples 1, got clipNorm ${fp.clipNorm} and maxExamples ${fp.maxExamples}`,
    )
  const { sigmaSquared } = participantNoise(privacy, fp.scale, delta.length)
  const words = privateUpdateWords(delta, { clip: privacy.clipNorm, scale: fp.scale, sigmaSquared }, random)
  const out = new Uint32Array(words.length + 1)
  out.set(words)
  out[words.length] = 1
  return out
}

/**
 * The vector a participant masks in a secure round, by the task's privacy: the plain layout
 * (update weighted by its example count, label and evaluation counts) without privacy, and under it
 * [Δ…, 1], no counts, the update private already (DP-SGD, unit "example") or noised here (unit
 * "participant", from `random()`, which is only called then).
 */
export function encodeRoundContribution(
  c: SecureContribution,
  privacy: PrivacySettings | null,
  fp: FixedPoint,
  random: () => RandomSource = cryptoRandom,
): Uint32Array {
  if (privacy === null) return encodeSecureContribution(c, fp)
  if (privacy.unit === 'example') return encodeExamplePrivateContribution(c.delta, fp)
  return encodeParticipantPrivateContribution(c.delta, privacy, fp, random())
}

export function encodeSecureContribution(c: SecureContribution, fp: FixedPoint): Uint32Array {
  const classes = c.labelCounts.length
  // A participant's own counts must add up: an inconsistent sum would then point at a liar, not a bug.
  const counts = flattenEvaluationCounts(c.evaluation)
  parseEvaluationCounts(counts, classes, 'secure contribution: evaluation counts')
  return encodeWeighted(c.delta, c.examples, [...c.labelCounts, ...counts], fp)
}

export function decodeSecureSum(
  sum: Uint32Array,
  params: number,
  classes: number,
  fp: FixedPoint,
  private_ = false,
): SecureSum {
  const length = secureVectorLength(params, classes, private_)
  if (sum.length !== length)
    throw new ProtocolError('wrong-size', `secure sum: expected ${length} words, got ${sum.length}`)
  const { weightedSum, examples, extra } = decodeWeightedSum(sum, params, fp)
  if (private_) {
    const withCount = new Float64Array(params + 1)
    withCount.set(weightedSum)
    withCount[params] = examples
    return {
      weightedSum: withCount,
      examples,
      labelCounts: null,
      evaluation: { ok: false, reason: PRIVATE_NO_EVALUATION },
    }
  }
  const withTotal = new Float64Array(params + 1)
  withTotal.set(weightedSum)
  withTotal[params] = examples
  return {
    weightedSum: withTotal,
    examples,
    labelCounts: extra.slice(0, classes),
    evaluation: readPooledEvaluation(extra.slice(classes), classes, 'the pooled evaluation counts'),
  }
}
