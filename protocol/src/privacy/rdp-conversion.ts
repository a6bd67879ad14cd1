import { ProtocolError } from '../errors.ts'
import { checkDelta, checkNonNegative, checkOrders, refuse } from './rdp-arguments.ts'

/** An (ε, δ) figure and the Rényi order it was read at. */
export type EpsilonAtOrder = { readonly epsilon: number; readonly order: number }
export type DeltaAtOrder = { readonly delta: number; readonly order: number }

/**
 * Orders below this are passed over by the Rényi bound: log(δ·α)/(α − 1) is unstable as α → 1, and
 * such orders never give the best ε anyway (dp_accounting's threshold).
 */
const MIN_CONVERSION_ORDER = 1.01

/**
 * The smallest ε such that a mechanism with Rényi DP `rdp[k]` at `orders[k]` for every k is
 * (ε, δ)-DP, and the order that gives it. Per order the better of two bounds, as dp_accounting's
 * compute_epsilon:
 *  - ε = rdp + log1p(−1/α) − (log δ + log α)/(α − 1) (Canonne, Kamath & Steinke, "The Discrete Gaussian
 *    for Differential Privacy", NeurIPS 2020, Prop. 12; Asoodeh et al. 2020, eq. 20). It is never above
 *    Mironov's classic rdp + log(1/δ)/(α − 1), so taking that too would change nothing;
 *  - ε = 0 when δ ≥ √(1 − e^{−rdp}): the divergence bounds the total variation distance by δ.
 * Never below 0. A curve that rounding left a hair below zero counts as zero.
 */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): EpsilonAtOrder {
  checkCurve(orders, rdp)
  checkDelta(delta)
  let best: EpsilonAtOrder = { epsilon: Number.POSITIVE_INFINITY, order: orders[0] as number }
  orders.forEach((order, k) => {
    const r = Math.max(rdp[k] as number, 0)
    let epsilon = Number.POSITIVE_INFINITY
    if (delta * delta + Math.expm1(-r) > 0) epsilon = 0
    else if (order > MIN_CONVERSION_ORDER)
      epsilon = r + Math.log1p(-1 / order) - Math.log(delta * order) / (order - 1)
    if (epsilon < best.epsilon) best = { epsilon, order }
  })
  return { epsilon: Math.max(0, best.epsilon), order: best.order }
}

/**
 * The smallest δ such that the curve is (ε, δ)-DP, and its order: the same two bounds as
 * {@link rdpToEpsilon}, solved for δ (in log space, so tiny δ do not underflow on the way).
 */
export function rdpToDelta(orders: readonly number[], rdp: readonly number[], epsilon: number): DeltaAtOrder {
  checkCurve(orders, rdp)
  checkNonNegative('epsilon', epsilon)
  let best = { logDelta: Number.POSITIVE_INFINITY, order: orders[0] as number }
  orders.forEach((order, k) => {
    const r = Math.max(rdp[k] as number, 0)
    let logDelta = r === 0 ? Number.NEGATIVE_INFINITY : 0.5 * Math.log1p(-Math.exp(-r))
    if (order > MIN_CONVERSION_ORDER)
      logDelta = Math.min(logDelta, (order - 1) * (r - epsilon + Math.log1p(-1 / order)) - Math.log(order))
    if (logDelta < best.logDelta) best = { logDelta, order }
  })
  return { delta: Math.min(Math.exp(best.logDelta), 1), order: best.order }
}

function checkCurve(orders: readonly number[], rdp: readonly number[]): void {
  checkOrders(orders)
  if (!Array.isArray(rdp) || rdp.length !== orders.length)
    refuse('rdp', `one value per order (${orders.length})`, Array.isArray(rdp) ? `${rdp.length} values` : rdp)
  for (const r of rdp)
    if (typeof r !== 'number' || Number.isNaN(r))
      throw new ProtocolError('not-finite', `privacy: rdp: expected numbers (+∞ allowed), got ${String(r)}`)
}
