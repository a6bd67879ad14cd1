/*
 * Arithmetic in log space for the privacy accountant: the Rényi moments it sums reach e^(10^5) and
 * more at high orders and small noise, far past a double, while their logarithms stay small.
 */

/** log(e^a + e^b), exact when either is −∞ (a zero). */
export function logAddExp(a: number, b: number): number {
  const high = Math.max(a, b)
  const low = Math.min(a, b)
  if (low === Number.NEGATIVE_INFINITY) return high
  return high + Math.log1p(Math.exp(low - high))
}

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI)
/** Below it erfc comes from erf's series, above from Laplace's continued fraction (≤ 60 terms there). */
const SERIES_LIMIT = 2

/**
 * log(erfc(x)) to about 1e-14 relative for every finite x, including x where erfc(x) itself underflows
 * (erfc(27) < 1e-300): the tail is computed as −x² − log√π − log(continued fraction), never as erfc.
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN
  if (x === Number.POSITIVE_INFINITY) return Number.NEGATIVE_INFINITY
  if (x === Number.NEGATIVE_INFINITY) return Math.LN2
  if (x >= SERIES_LIMIT) return -x * x - LOG_SQRT_PI - Math.log(laplaceFraction(x))
  if (x >= 0) return Math.log1p(-erfSeries(x))
  // erfc(−y) = 1 + erf(y) = 2 − erfc(y)
  if (x > -SERIES_LIMIT) return Math.log1p(erfSeries(-x))
  return Math.log(2 - Math.exp(logErfc(-x)))
}

/**
 * erf(x) for 0 ≤ x < 2 by the series erf(x) = (2x/√π)·e^(−x²)·Σ (2x²)^n / (1·3·…·(2n+1)), whose terms
 * are all positive: no cancellation (Abramowitz & Stegun 7.1.6).
 */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x
  let term = 1
  let sum = 1
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= twoX2 / (2 * n + 1)
    sum += term
  }
  return (2 / Math.sqrt(Math.PI)) * x * Math.exp(-x * x) * sum
}

/**
 * √π·e^(x²)·erfc(x) = 1 / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))) for x ≥ 2, returned as the
 * denominator, by the modified Lentz method (Abramowitz & Stegun 7.1.14; Press et al., Numerical Recipes
 * §5.2). At x = 2 it converges in under 60 terms to a few ulps; faster as x grows.
 */
function laplaceFraction(x: number): number {
  const tiny = 1e-300
  let f = x
  let c = x
  let d = 0
  for (let n = 1; n < 500; n++) {
    const a = n / 2
    d = x + a * d
    c = x + a / c
    if (d === 0) d = tiny
    if (c === 0) c = tiny
    d = 1 / d
    const step = c * d
    f *= step
    if (Math.abs(step - 1) < 1e-16) break
  }
  return f
}
