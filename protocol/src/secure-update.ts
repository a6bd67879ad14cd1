import { ProtocolError } from './errors.ts'
import { decodeWeightedSum, encodeWeighted, type FixedPoint } from './secagg/fixed-point.ts'

/**
 * What one participant puts into the securely aggregated vector, and what the coordinator reads
 * out of the sum: [n·clip(Δ) (one word per head parameter), n, n per class…, validation examples,
 * correct validation predictions]. Everything the coordinator learns about a round is in this sum:
 * the weighted update and example count FedAvg needs, the federation's label mix, and the pooled
 * local validation accuracy; no participant's own numbers.
 */
export type SecureContribution = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  readonly valExamples: number
  readonly valCorrect: number
}

export type SecureSum = {
  /** [Σ n·clip(Δ), Σ n], the layout of `weightedSum` in fedavg.ts. */
  readonly weightedSum: Float64Array
  readonly examples: number
  readonly labelCounts: number[]
  readonly valExamples: number
  readonly valCorrect: number
}

/** Words in the masked vector for a head of `params` parameters and `classes` labels. */
export function secureVectorLength(params: number, classes: number): number {
  return params + 1 + classes + 2
}

export function encodeSecureContribution(c: SecureContribution, fp: FixedPoint): Uint32Array {
  if (c.valCorrect > c.valExamples)
    throw new ProtocolError(
      'malformed',
      `secure contribution: ${c.valCorrect} correct of ${c.valExamples} validation examples`,
    )
  return encodeWeighted(c.delta, c.examples, [...c.labelCounts, c.valExamples, c.valCorrect], fp)
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
    valExamples: extra[classes] as number,
    valCorrect: extra[classes + 1] as number,
  }
}
