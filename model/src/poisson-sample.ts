import { type RandomSource, uniform53 } from '@fedtune/protocol'

/**
 * The rows of one Poisson-subsampled batch: each of 0..n−1 independently with probability `rate`,
 * in increasing order, so the batch size is Binomial(n, rate) and may be 0. This is the sampling the
 * subsampled Gaussian mechanism's privacy amplification assumes (Abadi et al., CCS 2016, §3.1;
 * Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019):
 * the draws come from `random` because they are part of the privacy mechanism. One 53-bit uniform per
 * row, so the inclusion probability is `rate` to within 2^−53; rate 1 takes every row and draws nothing.
 */
export function poissonSample(n: number, rate: number, random: RandomSource): Int32Array {
  if (!(rate > 0 && rate <= 1))
    throw new Error(`poissonSample: expected a sampling rate in (0, 1], got ${rate}`)
  if (!(Number.isInteger(n) && n >= 0))
    throw new Error(`poissonSample: expected a non-negative whole number of rows, got ${n}`)
  if (rate === 1) return Int32Array.from({ length: n }, (_, i) => i)
  const rows: number[] = []
  for (let i = 0; i < n; i++) if (uniform53(random) < rate) rows.push(i)
  return Int32Array.from(rows)
}
