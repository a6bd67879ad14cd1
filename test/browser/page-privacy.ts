// The privacy samplers (protocol/src/privacy), bundled on their own by privacy-sampling.test.ts and run
// in headless Chromium; the test runs the same `seededDraws` in Node and compares word for word.
import {
  conditionalRandomizedRounding,
  cryptoRandom,
  discreteGaussianVector,
  privateUpdateWords,
  type Rational,
  roundVarianceUp,
  seededSource,
} from '../../protocol/src/privacy/index.ts'

/** JSON carries no bigints: a rational variance travels as decimal strings. */
export type Variance = number | { readonly num: string; readonly den: string }

export type SeededInput = {
  readonly seed: number
  readonly variances: readonly Variance[]
  readonly samples: number
  readonly vector: readonly number[]
  readonly clip: number
  readonly scale: number
}

export type SeededDraws = {
  readonly words: readonly number[]
  readonly gaussians: readonly (readonly number[])[]
  readonly rounded: readonly number[]
  readonly update: readonly number[]
}

const variance = (v: Variance): number | Rational =>
  typeof v === 'number' ? v : { num: BigInt(v.num), den: BigInt(v.den) }

/** Everything drawn from seeded sources: the same input gives the same output wherever it runs. */
export function seededDraws(input: SeededInput): SeededDraws {
  const words = seededSource(input.seed)
  const vector = Float32Array.from(input.vector)
  const spec = { clip: input.clip, scale: input.scale }
  return {
    words: Array.from({ length: 64 }, () => words.nextUint32()),
    gaussians: input.variances.map((v, i) =>
      Array.from(discreteGaussianVector(input.samples, variance(v), seededSource(input.seed + i + 1))),
    ),
    rounded: Array.from(conditionalRandomizedRounding(vector, spec, seededSource(input.seed + 100))),
    update: Array.from(
      privateUpdateWords(
        vector,
        { ...spec, sigmaSquared: roundVarianceUp(1e8) },
        seededSource(input.seed + 200),
      ),
    ),
  }
}

/** The page's own cryptographic source: the mean and variance of N_Z(0, 100) drawn from it. */
export function cryptoDraws(samples: number): { readonly mean: number; readonly variance: number } {
  const v = discreteGaussianVector(samples, 100, cryptoRandom())
  const mean = v.reduce((a, b) => a + b, 0) / samples
  return { mean, variance: v.reduce((a, b) => a + (b - mean) ** 2, 0) / samples }
}
