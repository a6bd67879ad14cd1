import {
  type EpsilonReport,
  epsilonOf,
  type PrivacySettings,
  type RoundResult,
  reportedEpsilon,
  type SpentRound,
} from '@fedtune/protocol'

/**
 * What the page says of a private round's result: this browser's ε (its ledger, the rounds it kept
 * before sending) beside the ε the coordinator reports, in the hospital client's words
 * (`reportedEpsilon`), with its loud warning when the coordinator's is higher although this browser
 * released every round so far. null when the task or the result carries no ε.
 */
export function roundEpsilon(
  result: RoundResult,
  privacy: PrivacySettings | null,
  spent: readonly SpentRound[],
): EpsilonReport | null {
  if (privacy === null || result.epsilon === null) return null
  return reportedEpsilon({
    round: result.round,
    coordinator: result.epsilon,
    own: epsilonOf(
      spent.map((s) => s.event),
      privacy.delta,
    ),
    released: spent.map((s) => s.round),
    privacy,
    holder: 'this browser',
  })
}
