import { checkAtLeastOne, checkOrders, checkPositive, refuse } from './rdp-arguments.ts'
import { DEFAULT_RDP_ORDERS } from './rdp-orders.ts'

/**
 * One round of the distributed discrete Gaussian (Kairouz, Liu & Steinke, "The Distributed Discrete
 * Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML 2021): each of the
 * `participants` whose updates made it into the sum added its own N_Z(0, σ²) noise to every one of the
 * `dimension` coordinates, and only the sum is seen. Everything is in the integer (fixed-point) domain:
 * `l2Sensitivity` bounds the L2 norm of one participant's integer contribution after clipping and
 * rounding, `sigmaSquared` is one participant's variance in the same units. `l1Sensitivity`, when the
 * rounding step knows a tighter one, bounds its L1 norm; otherwise min(√d·Δ₂, Δ₂²) is used, which holds
 * for every integer vector (‖v‖₁ ≤ √d‖v‖₂, and |vᵢ| ≤ vᵢ² for integers).
 */
export type DistributedDiscreteGaussian = {
  readonly l2Sensitivity: number
  readonly l1Sensitivity?: number
  readonly sigmaSquared: number
  readonly participants: number
  readonly dimension: number
}

/**
 * The sum of m discrete Gaussians is not a discrete Gaussian; τ measures how far from one it is
 * (Kairouz et al. 2021, Thm. 1): τ = 10·Σ_{k=1}^{m−1} e^{−2π²σ²·k/(k+1)}. It is 0 for one participant
 * and vanishes quickly as σ² grows: τ ≤ 10(m − 1)·e^{−π²σ²}, below 1e-16·(m − 1) from σ² = 4 on.
 */
export function ddgTau(sigmaSquared: number, participants: number): number {
  let sum = 0
  for (let k = 1; k < participants; k++)
    sum += Math.exp((-2 * Math.PI * Math.PI * sigmaSquared * k) / (k + 1))
  return 10 * sum
}

/**
 * Rényi DP of one round of the distributed discrete Gaussian at each order: the bound of Kairouz, Liu
 * & Steinke 2021, Prop. 14 (eq. 17), as the authors' accounting code computes it
 * (google-research/federated, distributed_dp/accounting_utils.py, `compute_rdp_dgaussian`), per order α
 *   min( α/2·Δ₂²/(mσ²) + τd,
 *        α/2·(Δ₂²/(mσ²) + 2Δ₁τ/√(mσ²) + τ²d),
 *        α/2·(Δ₂/√(mσ²) + τ√d)² ).
 * The third is Theorem 1's ½ε²-concentrated DP with ε = Δ₂/√(mσ²) + τ√d; as σ² grows, τ → 0 and all
 * three tend to α·Δ₂²/(2mσ²), the continuous Gaussian with the same total variance mσ².
 * The theorem assumes σ ≥ 1/2 (σ² ≥ 1/4), so smaller σ² is refused rather than accounted.
 */
export function ddgRdp(
  round: DistributedDiscreteGaussian,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  const { l2Sensitivity: l2, sigmaSquared, participants: m, dimension: d } = round
  checkPositive('l2Sensitivity', l2)
  if (round.l1Sensitivity !== undefined) checkPositive('l1Sensitivity', round.l1Sensitivity)
  if (typeof sigmaSquared !== 'number' || !Number.isFinite(sigmaSquared) || sigmaSquared < 0.25)
    refuse(
      'sigmaSquared',
      'a finite variance ≥ 1/4 per participant (σ ≥ 1/2, as the DDG theorem requires)',
      sigmaSquared,
    )
  checkAtLeastOne('participants', m)
  checkAtLeastOne('dimension', d)
  checkOrders(orders)
  const l1 = round.l1Sensitivity ?? Math.min(Math.sqrt(d) * l2, l2 * l2)
  const tau = ddgTau(sigmaSquared, m)
  const totalStd = Math.sqrt(m * sigmaSquared)
  const l2Scale = l2 / totalStd
  const l1Scale = l1 / totalStd
  return orders.map((order) =>
    Math.min(
      (order / 2) * l2Scale * l2Scale + tau * d,
      (order / 2) * (l2Scale * l2Scale + 2 * l1Scale * tau + tau * tau * d),
      (order / 2) * (l2Scale + Math.sqrt(d) * tau) ** 2,
    ),
  )
}
