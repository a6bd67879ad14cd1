/**
 * Differential privacy's exact noise: a random source (crypto for participants, seeded for
 * simulations), exact Bernoulli, discrete Laplace and discrete Gaussian samplers, conditional randomized
 * rounding, the 32-bit ring's overflow bound, and a participant's noised update. Pure integer code that
 * runs alike in Node and in browsers.
 */
export { bernoulli, bernoulliBig, bernoulliExp, bernoulliExpBig } from './bernoulli.ts'
export {
  type DiscreteGaussianSampler,
  discreteGaussian,
  discreteGaussianSampler,
  discreteGaussianVector,
  MAX_SIGMA_SQUARED,
  roundVarianceUp,
} from './discrete-gaussian.ts'
export { discreteLaplace, MAX_LAPLACE_SCALE } from './discrete-laplace.ts'
export { exactRational, type Rational } from './exact-rational.ts'
export {
  clipToNorm,
  decodePrivateMean,
  type PrivateUpdateSpec,
  privateUpdateWords,
} from './private-update.ts'
export {
  cryptoRandom,
  type RandomSource,
  standardNormal,
  uniform53,
  uniformBigInt,
  uniformInt,
} from './random-source.ts'
export {
  CLIP_SLACK,
  conditionalRandomizedRounding,
  DEFAULT_BETA,
  l2Norm,
  type RoundingSpec,
  randomizedRound,
  roundingNormBound,
} from './randomized-rounding.ts'
export {
  type RingFitSpec,
  type RingPlan,
  type RingPlanSpec,
  ringOverflowProbability,
  ringScale,
} from './ring-fit.ts'
export { seededSource } from './seeded-source.ts'
