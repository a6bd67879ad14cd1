/**
 * Differential privacy's exact noise: a random source (crypto for participants, seeded for
 * simulations), exact Bernoulli, discrete Laplace and discrete Gaussian samplers, conditional randomized
 * rounding, the 32-bit ring's overflow bound, and a participant's noised update. Pure integer code that
 * runs alike in Node and in browsers.
 */

export * from './accountant.ts'
export { bernoulli, bernoulliBig, bernoulliExp, bernoulliExpBig } from './bernoulli.ts'
export * from './ddg-rdp.ts'
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
export * from './noise-calibration.ts'
export * from './participant-budget.ts'
export * from './participant-noise.ts'
export {
  distinctEpsilons,
  type ExamplePrivacy,
  formatEpsilon,
  type ParticipantPrivacy,
  PRIVACY_UNITS,
  type PrivacySettings,
  parsePrivacySettings,
  privacyStatement,
} from './privacy-settings.ts'
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
export * from './rdp-conversion.ts'
export * from './rdp-orders.ts'
export { type EpsilonReport, reportedEpsilon } from './reported-epsilon.ts'
export {
  type RingFitSpec,
  type RingPlan,
  type RingPlanSpec,
  ringOverflowProbability,
  ringScale,
} from './ring-fit.ts'
export { seededSource } from './seeded-source.ts'
export * from './subsampled-gaussian.ts'
