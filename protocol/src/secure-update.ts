import { ProtocolError } from './errors.ts'
import {
  type EvaluationCounts,
  evaluationCountsLength,
  flattenEvaluationCounts,
  type PooledEvaluation,
  parseEvaluationCounts,
  readPooledEvaluation,
} from './evaluation-counts.ts'
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
