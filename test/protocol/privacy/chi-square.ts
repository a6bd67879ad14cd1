/**
 * Pearson's chi-square goodness of fit of integer samples against a pmf over a window of integers
 * (each probability ∝ weight(x), normalised over the window), with neighbouring integers pooled into
 * bins of at least `minExpected` expected samples. Samples outside the window count in its edge bins.
 */
export type ChiSquare = { readonly statistic: number; readonly bins: number; readonly critical: number }

export function chiSquare(
  samples: ArrayLike<number>,
  weight: (x: number) => number,
  window: { readonly low: number; readonly high: number },
  minExpected = Math.max(20, samples.length / 60),
): ChiSquare {
  const { low, high } = window
  let total = 0
  for (let x = low; x <= high; x++) total += weight(x)
  const n = samples.length
  // Bins: [start, end] integer ranges, each expected ≥ minExpected, a short last one merged back.
  const edges: { start: number; end: number; expected: number }[] = []
  let start = low
  let expected = 0
  for (let x = low; x <= high; x++) {
    expected += (n * weight(x)) / total
    if (expected >= minExpected) {
      edges.push({ start, end: x, expected })
      start = x + 1
      expected = 0
    }
  }
  const last = edges[edges.length - 1]
  if (expected > 0 && last !== undefined)
    edges[edges.length - 1] = { ...last, end: high, expected: last.expected + expected }
  const observed = new Array<number>(edges.length).fill(0)
  for (let i = 0; i < n; i++) {
    const x = Math.min(high, Math.max(low, samples[i] as number))
    let lo = 0
    let hi = edges.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((edges[mid] as { end: number }).end < x) lo = mid + 1
      else hi = mid
    }
    observed[lo] = (observed[lo] as number) + 1
  }
  const statistic = edges.reduce((s, e, i) => s + ((observed[i] as number) - e.expected) ** 2 / e.expected, 0)
  return { statistic, bins: edges.length, critical: chiSquareQuantile(edges.length - 1, Z_999) }
}

/** The standard normal's 0.999 quantile: a fit is refused at the 0.1% level. */
const Z_999 = 3.090232

/** The chi-square quantile with k degrees of freedom at normal quantile z (Wilson & Hilferty, 1931). */
export function chiSquareQuantile(k: number, z: number): number {
  const a = 2 / (9 * k)
  return k * (1 - a + z * Math.sqrt(a)) ** 3
}

/** A binomial frequency's distance from p in standard deviations. */
export function zScore(successes: number, trials: number, p: number): number {
  return (successes - trials * p) / Math.sqrt(trials * p * (1 - p))
}
