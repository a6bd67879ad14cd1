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
  /** [Σ n·clip(Δ), Σ n], the layout of `weightedSum` in fedavg.ts. */
  readonly weightedSum: Float64Array
  readonly examples: number
  readonly labelCounts: number[]
  /**
   * The summed evaluation counts, or why they do not add up: one participant can send inconsistent
   * counts, and must not be able to fail the round (or learn anything) by it.
   */
  readonly evaluation: PooledEvaluation
}

/** Words in the masked vector for a head of `params` parameters and `classes` labels. */
export function secureVectorLength(params: number, classes: number): number {
  return params + 1 + classes + evaluationCountsLength(classes)
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
): SecureSum {
  if (sum.length !== secureVectorLength(params, classes))
    throw new ProtocolError(
      'wrong-size',
      `secure sum: expected ${secureVectorLength(params, classes)} words, got ${sum.length}`,
    )
  const { weightedSum, examples, extra } = decodeWeightedSum(sum, params, fp)
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
