import {
  epsilonOf,
  formatEpsilon,
  type RoundResult,
  roundPrivacyEvent,
  type SpentRound,
} from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { roundEpsilon } from '../../client-web/src/round-epsilon.ts'
import { examplePrivacy as example } from '../privacy-fixture.ts'

/**
 * Issue 16 on the volunteers' page: after a private round's result the page shows its own ledger's ε
 * beside the coordinator's, in the hospital client's words, and warns loudly when the coordinator's
 * is higher although this browser released every round so far.
 */
const event = roundPrivacyEvent(example, { steps: example.stepsPerRound, scale: 1, dimension: 18 })
const kept = (...rounds: number[]): SpentRound[] =>
  rounds.map((round) => ({ task: 'images', round, time: '2026-12-03T10:00:00.000Z', event }))
const result = (round: number, epsilon: number | null): RoundResult => ({
  round,
  status: 'aggregated',
  reason: null,
  participants: 3,
  accuracy: null,
  auc: null,
  epsilon,
})

describe('the volunteers’ page after a private round', () => {
  it('says its own ε (its ledger’s rounds) beside the coordinator’s, each saying what it counts', () => {
    const own = epsilonOf([event, event], example.delta)
    expect(roundEpsilon(result(2, own), example, kept(1, 2))).toEqual({
      line: `round 2: ε spent ${formatEpsilon(own)} of 3.00 (δ 1e-5) by this browser's ledger (2 rounds it released) · the coordinator reports ε ${formatEpsilon(own)} (every round the federation released, with its survivors)`,
      warning: null,
    })
  })

  it('warns loudly when the coordinator reports more although this browser released every round', () => {
    const own = epsilonOf([event, event], example.delta)
    const report = roundEpsilon(result(2, own + 1), example, kept(1, 2))
    expect(report?.warning).toBe(
      `WARNING: round 2: the coordinator reports ε ${formatEpsilon(own + 1)} spent, more than this browser's ledger's ε ${formatEpsilon(own)}, although this browser released an update in each of the 2 rounds: its ledger may have missed a release, or the two accountants disagree, so this browser may have spent more than it counts. Its budget is enforced by its own ledger: check the ledger and ask the coordinator's operator.`,
    )
    // round 1 was not this browser's: the federation may well have spent more, and that is no alarm
    expect(roundEpsilon(result(2, own + 1), example, kept(2))?.warning).toBeNull()
  })

  it('says nothing for a task without privacy, or a result without ε', () => {
    expect(roundEpsilon(result(1, null), example, kept(1))).toBeNull()
    expect(roundEpsilon(result(1, 0.5), null, [])).toBeNull()
  })
})
