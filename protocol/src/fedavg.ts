import { ProtocolError } from './errors.ts'

/**
 * One participant's contribution: the change it made to the global head (Δ = w_local − w_global)
 * and the number of training examples behind it. Deltas, not weights, are what later gets clipped
 * in L2 norm, quantized and masked.
 */
export type Contribution = { readonly delta: Float32Array; readonly examples: number }

/**
 * FedAvg (McMahan et al., AISTATS 2017, Algorithm 1): w ← w + Σ n_k·Δ_k / Σ n_k.
 * Weighted by example count; summed in float64 so the order of arrival does not matter.
 */
export function fedAvg(global: Float32Array, contributions: readonly Contribution[]): Float32Array {
  return applyWeightedSum(global, weightedSum(global.length, contributions))
}

/** The vector secure aggregation will reveal: [Σ n_k·Δ_k, Σ n_k]. */
export function weightedSum(length: number, contributions: readonly Contribution[]): Float64Array {
  const sum = new Float64Array(length + 1)
  for (const { delta, examples } of contributions) {
    if (delta.length !== length)
      throw new ProtocolError(
        'wrong-size',
        `fedAvg: expected deltas of ${length} values, got ${delta.length}`,
      )
    if (!Number.isInteger(examples) || examples < 1)
      throw new ProtocolError('malformed', `fedAvg: expected a positive example count, got ${examples}`)
    for (let i = 0; i < length; i++) sum[i] = (sum[i] as number) + examples * (delta[i] as number)
    sum[length] = (sum[length] as number) + examples
  }
  return sum
}

/** w + (Σ n_k·Δ_k) / (Σ n_k), from the sum vector whose last entry is Σ n_k. */
export function applyWeightedSum(global: Float32Array, sum: Float64Array): Float32Array {
  const length = global.length
  if (sum.length !== length + 1)
    throw new ProtocolError('wrong-size', `fedAvg: expected a sum of ${length + 1} values, got ${sum.length}`)
  const total = sum[length] as number
  if (!(total > 0))
    throw new ProtocolError('malformed', `fedAvg: expected a positive total example count, got ${total}`)
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) out[i] = (global[i] as number) + (sum[i] as number) / total
  return out
}
