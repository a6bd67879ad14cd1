/**
 * log A_α of the Poisson-subsampled Gaussian straight from its definition, by numerical integration,
 * to check the closed forms against something that shares none of their algebra:
 *   A_α = ∫ N(x; 0, z²)·((1 − q) + q·e^{(2x − 1)/(2z²)})^α dx,
 * the α-th moment of the likelihood ratio of N(0, z²) mixed with N(1, z²) over N(0, z²) (Mironov, Talwar &
 * Zhang 2019, §3.3). The trapezoid rule converges geometrically for a smooth integrand that decays like a
 * Gaussian; the grid (step z/40) spans 40z past both ends of [0, α], where all the mass lies, and the sum
 * is taken in log space around its largest term so that no exponential overflows.
 */
export function logMomentByQuadrature(q: number, z: number, alpha: number): number {
  const h = z / 40
  const from = -40 * z - 5
  const to = alpha + 40 * z + 5
  const logNorm = -Math.log(z * Math.sqrt(2 * Math.PI))
  const logs: number[] = []
  for (let x = from; x <= to; x += h) {
    const u = (2 * x - 1) / (2 * z * z)
    const logRatio = logAdd(Math.log1p(-q), Math.log(q) + u)
    logs.push(logNorm - (x * x) / (2 * z * z) + alpha * logRatio)
  }
  const top = Math.max(...logs)
  let sum = 0
  for (const l of logs) sum += Math.exp(l - top)
  return top + Math.log(sum * h)
}

function logAdd(a: number, b: number): number {
  const high = Math.max(a, b)
  return high + Math.log1p(Math.exp(Math.min(a, b) - high))
}
