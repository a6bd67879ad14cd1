/**
 * What the coordinator does with the round's aggregate, the example-weighted mean update
 * Δ̄ = Σ n_k·Δ_k / Σ n_k (Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2):
 * −Δ̄ is a pseudo-gradient that a server optimizer applies to the global head.
 *
 * - 'sgd' with learning rate 1 is FedAvg (McMahan et al., AISTATS 2017): w ← w + Δ̄.
 * - 'adam' is FedAdam: m ← β1·m + (1−β1)·Δ̄, v ← β2·v + (1−β2)·Δ̄², w ← w + η·m/(√v + τ), no bias
 *   correction, as in the paper. Its per-coordinate step size makes it the server half of federated
 *   full-batch gradient descent (each participant sends Δ = −∇L_k, one step of plain SGD at learning
 *   rate 1 over all its data): the sum is then the gradient of the federation-wide loss however the
 *   labels are spread over sites, which local epochs of FedAvg cannot survive when each hospital
 *   holds nearly one class (bench/accuracy.ts, Dirichlet α=0.1).
 *   With `weightDecay` λ the step is decoupled from the moments, as AdamW's (Loshchilov & Hutter,
 *   ICLR 2019): w ← (1 − η·λ)·w + η·m/(√v + τ), every parameter, biases included. It costs no
 *   privacy: the coordinator applies it to what it already holds.
 */
export type ServerOptimizer =
  | { readonly optimizer: 'sgd'; readonly learningRate: number }
  | {
      readonly optimizer: 'adam'
      readonly learningRate: number
      readonly beta1: number
      readonly beta2: number
      /** τ in the paper: the adaptivity floor (10⁻³ there). */
      readonly epsilon: number
      /** λ, decoupled weight decay; none or 0: plain FedAdam. η·λ < 1. */
      readonly weightDecay?: number
    }

export const FEDAVG: ServerOptimizer = { optimizer: 'sgd', learningRate: 1 }

/** Adam's moment estimates, one value per head parameter; null for 'sgd' and before the first step. */
export type ServerState = { readonly m: Float32Array; readonly v: Float32Array } | null

export function serverStep(
  opt: ServerOptimizer,
  state: ServerState,
  global: Float32Array,
  meanDelta: ArrayLike<number>,
): { weights: Float32Array; state: ServerState } {
  const n = global.length
  if (meanDelta.length < n)
    throw new Error(`serverStep: expected an update of ${n} values, got ${meanDelta.length}`)
  const weights = new Float32Array(n)
  if (opt.optimizer === 'sgd') {
    for (let i = 0; i < n; i++)
      weights[i] = (global[i] as number) + opt.learningRate * (meanDelta[i] as number)
    return { weights, state: null }
  }
  const { beta1, beta2, epsilon, learningRate } = opt
  const keep = 1 - learningRate * (opt.weightDecay ?? 0)
  if (!(keep > 0 && keep <= 1))
    throw new Error(
      `serverStep: expected a weight decay λ with 0 ≤ η·λ < 1, got λ = ${opt.weightDecay} at η = ${learningRate}`,
    )
  const m = state ? Float32Array.from(state.m) : new Float32Array(n)
  const v = state ? Float32Array.from(state.v) : new Float32Array(n)
  if (m.length !== n || v.length !== n)
    throw new Error(`serverStep: expected Adam moments of ${n} values, got ${m.length} and ${v.length}`)
  for (let i = 0; i < n; i++) {
    const d = meanDelta[i] as number
    const mi = beta1 * (m[i] as number) + (1 - beta1) * d
    const vi = beta2 * (v[i] as number) + (1 - beta2) * d * d
    m[i] = mi
    v[i] = vi
    weights[i] = keep * (global[i] as number) + (learningRate * mi) / (Math.sqrt(vi) + epsilon)
  }
  return { weights, state: { m, v } }
}
