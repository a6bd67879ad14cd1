import {
  budgetDecision,
  composeEvents,
  type ExamplePrivacy,
  emptyRdpAccount,
  epsilonOf,
  epsilonSpent,
  formatDelta,
  localDeltaProblem,
  type PrivacyEvent,
  parseSpentRound,
  participantNoise,
  ringScale,
  roundPrivacyEvent,
  type SpentRound,
  spentLine,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { examplePrivacy, participantPrivacy as participant } from '../../privacy-fixture.ts'

const example: ExamplePrivacy = { ...examplePrivacy, rounds: 10, stepsPerRound: 40 }
const dimension = 3000
const scale = ringScale({
  participants: 10,
  minParticipants: participant.minParticipants,
  clip: participant.clipNorm,
  noiseMultiplier: participant.noiseMultiplier,
  dimension,
}).scale

const times = <T>(k: number, x: T): T[] => Array.from({ length: k }, () => x)

describe('what one round releases, as the participant’s accountant sees it', () => {
  it('unit "example": the round’s DP-SGD steps, each a Poisson-subsampled Gaussian at the task’s q and z', () => {
    expect(roundPrivacyEvent(example, { steps: 40, scale: 1, dimension })).toEqual({
      kind: 'subsampled-gaussian',
      steps: 40,
      samplingRate: 0.05,
      noiseMultiplier: 1.1,
    })
  })

  it('unit "participant": one distributed discrete Gaussian round with only minParticipants survivors, the noise and sensitivity of participantNoise', () => {
    const { sigmaSquared, l2Sensitivity } = participantNoise(participant, scale, dimension)
    expect(roundPrivacyEvent(participant, { steps: 0, scale, dimension })).toEqual({
      kind: 'distributed-discrete-gaussian',
      rounds: 1,
      l2Sensitivity,
      sigmaSquared,
      participants: 4,
      dimension,
    })
  })
})

describe('ε spent over the rounds released', () => {
  it('is the accountant’s composition of every round: 100 full-batch rounds at z = 5 give ε ≈ 10.73 at δ = 1e-5', () => {
    const round: PrivacyEvent = { kind: 'subsampled-gaussian', steps: 1, samplingRate: 1, noiseMultiplier: 5 }
    expect(epsilonOf(times(100, round), 1e-5)).toBeCloseTo(10.73, 2)
    expect(epsilonOf([], 1e-5)).toBe(0)
  })

  it('composes rounds of different settings (a task that changed) as well as equal ones', () => {
    const a = roundPrivacyEvent(example, { steps: 40, scale: 1, dimension })
    const b = { ...a, noiseMultiplier: 2 } as PrivacyEvent
    const direct = epsilonSpent(composeEvents(emptyRdpAccount(), [a, b, a]), 1e-5).epsilon
    expect(epsilonOf([a, b, a], 1e-5)).toBeCloseTo(direct, 9)
    expect(epsilonOf([a, a], 1e-5)).toBeCloseTo(
      epsilonSpent(composeEvents(emptyRdpAccount(), [{ ...a, steps: 80 } as PrivacyEvent]), 1e-5).epsilon,
      9,
    )
  })

  it('unit "participant" with a fine scale is the Gaussian mechanism at z, per round', () => {
    const round = roundPrivacyEvent(participant, { steps: 0, scale, dimension })
    const gaussian: PrivacyEvent = {
      kind: 'subsampled-gaussian',
      steps: 1,
      samplingRate: 1,
      noiseMultiplier: 1.3,
    }
    for (const k of [1, 5, 20])
      expect(epsilonOf(times(k, round), 1e-5)).toBeCloseTo(epsilonOf(times(k, gaussian), 1e-5), 4)
  })

  it('is said as "ε spent 1.23 of 3.00 (δ 1e-5)"', () => {
    expect(spentLine(1.2345, example)).toBe('ε spent 1.23 of 3.00 (δ 1e-5)')
    expect(spentLine(12.345, { ...example, epsilon: 16, delta: 2.5e-6 })).toBe(
      'ε spent 12.3 of 16.0 (δ 2.5e-6)',
    )
    expect(formatDelta(1 / 36)).toBe('2.78e-2')
  })
})

describe('the participant’s budget before a round', () => {
  const round = roundPrivacyEvent(example, { steps: 40, scale: 1, dimension })
  /** How many such rounds fit the target: ε after k rounds ≤ 3 < ε after k + 1. */
  const fits = (() => {
    let k = 0
    while (epsilonOf(times(k + 1, round), example.delta) <= example.epsilon) k++
    return k
  })()

  it('trains every round that keeps ε within the target, and refuses the first that would pass it', () => {
    expect(fits).toBeGreaterThan(0)
    for (let k = 0; k < fits; k++) {
      const decision = budgetDecision(example, times(k, round), round, `round ${k + 1}`)
      expect(decision.train).toBe(true)
      expect(decision.after).toBeLessThanOrEqual(3)
    }
    const refused = budgetDecision(example, times(fits, round), round, `round ${fits + 1}`)
    expect(refused.train).toBe(false)
    expect(refused.after).toBeGreaterThan(3)
    expect(refused).toMatchObject({ rounds: fits, target: 3, delta: 1e-5 })
  })

  it('says why with the figures: ε it would reach, the target, δ, and what the rounds so far spent', () => {
    const refused = budgetDecision(example, times(fits, round), round, `round ${fits + 1}`)
    if (refused.train) throw new Error('expected a refusal')
    const after = epsilonOf(times(fits + 1, round), 1e-5).toFixed(2)
    const spent = epsilonOf(times(fits, round), 1e-5).toFixed(2)
    expect(refused.reason).toBe(
      `round ${fits + 1} would take this participant's privacy budget to ε ${after}, past the task's target ε 3.00 (δ 1e-5); ${fits} round${fits === 1 ? '' : 's'} trained so far spent ε ${spent}`,
    )
  })

  it('refuses even the first round when one round alone passes the target', () => {
    const decision = budgetDecision({ ...example, epsilon: 0.5 }, [], round, 'another round')
    expect(decision).toMatchObject({ train: false, rounds: 0, spent: 0 })
  })
})

describe('example-level privacy at a participant with few examples', () => {
  it('is void when δ is not below 1/n: refused with both figures', () => {
    expect(localDeltaProblem(example, 36)).toBeNull()
    expect(localDeltaProblem({ ...example, delta: 0.05 }, 36)).toBe(
      "the task's δ = 5e-2 is not below 1/n = 2.78e-2 for this participant's n = 36 training examples: a guarantee with δ ≥ 1/n allows publishing one example outright; the task needs a smaller δ (or this participant more examples)",
    )
    expect(localDeltaProblem({ ...example, delta: 0.1 }, 10)).toMatch(/δ = 1e-1 is not below 1\/n = 1e-1/)
  })

  it('does not apply to participant-level privacy, whose unit is the participant', () => {
    expect(localDeltaProblem({ ...participant, delta: 0.4 }, 2)).toBeNull()
  })
})

describe('a released round as kept', () => {
  const kept: SpentRound = {
    task: 'xray',
    round: 3,
    time: '2026-12-03T10:00:00.000Z',
    event: roundPrivacyEvent(participant, { steps: 0, scale, dimension }),
  }

  it('reads back as it was written (JSON, or an IndexedDB clone)', () => {
    expect(parseSpentRound(JSON.parse(JSON.stringify(kept)))).toEqual(kept)
    expect(parseSpentRound(structuredClone(kept))).toEqual(kept)
  })

  it('refuses what is not a kept round, naming the field', () => {
    expect(() => parseSpentRound({ ...kept, event: { ...kept.event, kind: 'laplace' } })).toThrow(
      /spent round\.event\.kind: expected one of/,
    )
    expect(() =>
      parseSpentRound({
        ...kept,
        event: { kind: 'subsampled-gaussian', steps: -1, samplingRate: 0.1, noiseMultiplier: 1 },
      }),
    ).toThrow(/spent round\.event\.steps/)
    expect(() => parseSpentRound({ ...kept, round: 'three' })).toThrow(/spent round\.round/)
  })
})
