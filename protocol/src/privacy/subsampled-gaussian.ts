import { logAddExp, logErfc } from './log-space.ts'
import { checkNonNegative, checkOrders, checkProbability } from './rdp-arguments.ts'
import { DEFAULT_RDP_ORDERS } from './rdp-orders.ts'

/**
 * One step of DP-SGD as a mechanism: each example joins the batch independently with probability
 * `samplingRate` (Poisson sampling), the clipped gradients are summed, and Gaussian noise of standard
 * deviation `noiseMultiplier` × the clip norm is added. Neighbouring datasets differ by adding or
 * removing one example.
 */
export type SubsampledGaussian = { readonly samplingRate: number; readonly noiseMultiplier: number }

/**
 * Rényi DP of the Gaussian mechanism with noise multiplier z (σ/Δ₂) at each order: α / (2z²)
 * (Mironov, "Rényi Differential Privacy", CSF 2017, Prop. 7). Infinite for z = 0.
 */
export function gaussianRdp(
  noiseMultiplier: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  checkNonNegative('noiseMultiplier', noiseMultiplier)
  checkOrders(orders)
  return orders.map((order) => order / (2 * noiseMultiplier * noiseMultiplier))
}

/**
 * Rényi DP of one step of the Poisson-subsampled Gaussian mechanism at each order, as Google
 * dp_accounting computes it (Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled
 * Gaussian Mechanism", 2019, §3.3): log(A_α)/(α − 1) with
 *   A_α = E_{x ~ N(0, z²)} [((1 − q) + q·e^{(2x − 1)/(2z²)})^α].
 * q = 0 releases nothing (0 at every order); q = 1 is the plain Gaussian, α/(2z²); z = 0 is infinite.
 * At an order where the fractional series does not settle (1000 terms) the value is +∞, so the
 * conversion to (ε, δ) passes over that order instead of trusting a partial sum.
 */
export function subsampledGaussianRdp(
  mechanism: SubsampledGaussian,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  const { samplingRate: q, noiseMultiplier: z } = mechanism
  checkProbability('samplingRate', q)
  checkNonNegative('noiseMultiplier', z)
  checkOrders(orders)
  return orders.map((order) => {
    if (q === 0) return 0
    if (z === 0) return Number.POSITIVE_INFINITY
    if (q === 1) return order / (2 * z * z)
    const logA = Number.isInteger(order) ? logAInteger(q, z, order) : logAFractional(q, z, order)
    return logA / (order - 1)
  })
}

/**
 * log A_α for integer α by the binomial expansion of ((1 − q) + q·e^{…})^α, each Gaussian moment
 * in closed form: A_α = Σ_{i=0}^{α} C(α, i)·q^i·(1 − q)^{α−i}·e^{(i² − i)/(2z²)}. Every term is
 * positive, so the sum in log space is exact to rounding.
 */
function logAInteger(q: number, z: number, alpha: number): number {
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  let logBinomial = 0 // log C(α, i), kept by C(α, i + 1) = C(α, i)·(α − i)/(i + 1)
  let logA = Number.NEGATIVE_INFINITY
  for (let i = 0; i <= alpha; i++) {
    const term = logBinomial + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * z * z)
    logA = logAddExp(logA, term)
    logBinomial += Math.log((alpha - i) / (i + 1))
  }
  return logA
}

const FRACTIONAL_TERMS = 1000

/**
 * log A_α for fractional α by the two-series method (Mironov, Talwar & Zhang 2019, §3.3): split the
 * integral at z₀ = z²·log(1/q − 1) + 1/2, where q·e^{(2x−1)/(2z²)} = 1 − q, and expand the power on each
 * side in the binomial series that converges there; each term's Gaussian integral is an erfc. Like
 * dp_accounting, every term is added with |C(α, i)| (the generalized binomial coefficients alternate
 * in sign past α), so the sum bounds A_α from above: a conservative value, within 1e-4 of the exact
 * integral in the regimes DP-SGD uses. Stops once both series are falling and their last terms are
 * below e^(−30) of the total.
 */
function logAFractional(q: number, z: number, alpha: number): number {
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  const z0 = z * z * Math.log(1 / q - 1) + 0.5
  const scale = Math.SQRT2 * z
  let logAbsBinomial = 0 // log |C(α, i)|, kept by |C(α, i + 1)| = |C(α, i)|·|α − i|/(i + 1)
  let logA0 = Number.NEGATIVE_INFINITY
  let logA1 = Number.NEGATIVE_INFINITY
  let lastS0 = Number.NEGATIVE_INFINITY
  let lastS1 = Number.NEGATIVE_INFINITY
  for (let i = 0; i < FRACTIONAL_TERMS; i++) {
    const j = alpha - i
    const logT0 = logAbsBinomial + i * logQ + j * log1mQ
    const logT1 = logAbsBinomial + j * logQ + i * log1mQ
    const logE0 = Math.log(0.5) + logErfc((i - z0) / scale)
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / scale)
    const s0 = logT0 + (i * i - i) / (2 * z * z) + logE0
    const s1 = logT1 + (j * j - j) / (2 * z * z) + logE1
    logA0 = logAddExp(logA0, s0)
    logA1 = logAddExp(logA1, s1)
    const total = logAddExp(logA0, logA1)
    if (s0 < lastS0 && s1 < lastS1 && Math.max(s0, s1) < total - 30) return total
    lastS0 = s0
    lastS1 = s1
    logAbsBinomial += Math.log(Math.abs(alpha - i) / (i + 1))
  }
  return Number.POSITIVE_INFINITY
}
