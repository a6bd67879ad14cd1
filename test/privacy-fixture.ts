import { type Progress, runAccountant } from '@fedtune/coordinator'
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

/**
 * The coordinator's accountant for a run of `rounds` rounds under example-level DP at z = 2, full
 * batch (q = 1), one step a round: a test sets its target ε between what some rounds spend.
 */
export function fullBatchAccountant(rounds: number): ReturnType<typeof runAccountant> {
  return runAccountant(
    {
      unit: 'example',
      epsilon: 1,
      delta: 1e-5,
      clipNorm: 1,
      noiseMultiplier: 2,
      rounds,
      samplingRate: 1,
      stepsPerRound: 1,
    },
    { unit: 'example', samplingRate: 1, noiseMultiplier: 2, stepsPerRound: 1 },
  )
}

/** Where a restarted private run stands after two rounds, each released by two survivors. */
export const twoRoundsKept: Progress = {
  round: 2,
  completed: 2,
  failed: 0,
  server: null,
  labelCounts: null,
  accounted: [2, 2],
}
