import type { ExamplePrivacy, ParticipantPrivacy } from '@fedtune/protocol'

/**
 * A task's differential privacy in the tests that need one: participant-level at ε = 8 (C = 0.5,
 * z = 1.3, 20 rounds, at least 4 survivors) and example-level at ε = 3 (C = 1, z = 1.1, 20 rounds of
 * 20 steps at q = 0.05), both at δ = 1e-5. A test that needs other rounds or steps spreads one and
 * sets them.
 */
export const participantPrivacy: ParticipantPrivacy = {
  unit: 'participant',
  epsilon: 8,
  delta: 1e-5,
  clipNorm: 0.5,
  noiseMultiplier: 1.3,
  rounds: 20,
  minParticipants: 4,
}
export const examplePrivacy: ExamplePrivacy = {
  unit: 'example',
  epsilon: 3,
  delta: 1e-5,
  clipNorm: 1,
  noiseMultiplier: 1.1,
  rounds: 20,
  samplingRate: 0.05,
  stepsPerRound: 20,
}
