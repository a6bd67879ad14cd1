import { reportedEpsilon } from '@fedtune/protocol'
import { describe, expect, it } from 'vitest'
import { examplePrivacy as example, participantPrivacy as participant } from '../../privacy-fixture.ts'

/**
 * Issue 16: after every private round a participant shows its own ledger's ε beside the one the
 * coordinator reports, each saying what it counts, and warns loudly when the coordinator's is higher
 * over rounds the participant all released (its ledger, which takes the worst case, cannot then be
 * the lower one unless it missed a release).
 */
const holder = 'this hospital'

describe('a participant’s ε beside the coordinator’s', () => {
  it('labels both figures: the ledger’s rounds at the worst case, the coordinator’s over the federation’s rounds', () => {
    expect(
      reportedEpsilon({
        round: 3,
        coordinator: 1.19,
        own: 1.234,
        released: [1, 2, 3],
        privacy: participant,
        holder,
      }),
    ).toEqual({
      line: "round 3: ε spent 1.23 of 8.00 (δ 1e-5) by this hospital's ledger (3 rounds it released, each at the worst case of 4 survivors) · the coordinator reports ε 1.19 (every round the federation released, with its survivors)",
      warning: null,
    })
    expect(
      reportedEpsilon({ round: 1, coordinator: 0.5, own: 0.5, released: [1], privacy: example, holder }).line,
    ).toBe(
      "round 1: ε spent 0.50 of 3.00 (δ 1e-5) by this hospital's ledger (1 round it released) · the coordinator reports ε 0.50 (every round the federation released, with its survivors)",
    )
  })

  it('a higher coordinator ε through rounds this participant did not release is said, not warned about', () => {
    const report = reportedEpsilon({
      round: 3,
      coordinator: 2,
      own: 1,
      released: [2, 3],
      privacy: example,
      holder,
    })
    expect(report.line).toContain('(2 rounds it released)')
    expect(report.warning).toBeNull()
  })

  it('warns loudly when the coordinator reports more over rounds this participant all released, with digits that differ', () => {
    const report = reportedEpsilon({
      round: 2,
      coordinator: 1.23456,
      own: 1.2312,
      released: [1, 2],
      privacy: participant,
      holder,
    })
    expect(report.warning).toBe(
      "WARNING: round 2: the coordinator reports ε 1.2346 spent, more than this hospital's ledger's ε 1.2312, although this hospital released an update in each of the 2 rounds: its ledger may have missed a release, or the two accountants disagree, so this hospital may have spent more than it counts. Its budget is enforced by its own ledger: check the ledger and ask the coordinator's operator.",
    )
    // the same accountant over the same rounds agrees to rounding: no warning
    expect(
      reportedEpsilon({
        round: 2,
        coordinator: 1.2312 * (1 + 1e-9),
        own: 1.2312,
        released: [1, 2],
        privacy: participant,
        holder,
      }).warning,
    ).toBeNull()
  })
})
