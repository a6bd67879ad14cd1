import type { Random } from './seeded-random.ts'

/**
 * Proportions p ~ Dir(α, …, α) over `k` parts, from normalized Gamma(α, 1) draws. Parts for which
 * `eligible` is false get exactly 0 and the rest are renormalized; at least one must be eligible.
 *
 * Works in log space: for α < 1 a Gamma draw is Gamma(α + 1)·U^(1/α), and U^(1/α) underflows to 0
 * for α around 0.01, which would make every part 0 and the proportions 0/0.
 */
export function sampleDirichlet(
  alpha: number,
  k: number,
  random: Random,
  eligible: (part: number) => boolean = () => true,
): Float64Array {
  const logs = new Float64Array(k)
  for (let i = 0; i < k; i++) {
    const draw = logGamma(alpha, random)
    logs[i] = eligible(i) ? draw : Number.NEGATIVE_INFINITY
  }
  return softmax(logs)
}

/** exp(logs) / Σ exp(logs), shifted by the maximum so it neither overflows nor underflows to 0/0. */
export function softmax(logs: Float64Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY
  for (const v of logs) max = Math.max(max, v)
  const out = new Float64Array(logs.length)
  let sum = 0
  for (let i = 0; i < logs.length; i++) {
    out[i] = Math.exp((logs[i] as number) - max)
    sum += out[i] as number
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum
  return out
}

/**
 * log of a Gamma(shape, 1) draw. Marsaglia & Tsang, "A simple method for generating gamma
 * variables", ACM TOMS 26(3), 2000: squeeze-and-reject on (1 + c·x)³ with x standard normal, for
 * shape ≥ 1; smaller shapes boost to shape + 1 and multiply by U^(1/shape) (their §6).
 */
export function logGamma(shape: number, random: Random): number {
  if (shape < 1) return logGamma(shape + 1, random) + Math.log(1 - random()) / shape
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const x = standardNormal(random)
    const base = 1 + c * x
    if (base <= 0) continue
    const v = base * base * base
    const u = 1 - random()
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v)))
      return Math.log(d * v)
  }
}

/** Box–Muller; 1 − U keeps the logarithm's argument in (0, 1]. */
function standardNormal(random: Random): number {
  const u1 = 1 - random()
  const u2 = random()
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}
