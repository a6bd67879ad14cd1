import { formatDelta } from './participant-budget.ts'
import { distinctEpsilons, formatEpsilon, type PrivacySettings } from './privacy-settings.ts'

/** What a participant says after a private round: both figures, and a warning when they cannot both be right. */
export type EpsilonReport = { readonly line: string; readonly warning: string | null }

/**
 * A participant's own ε beside the one the coordinator reports after `round` (RoundResult.epsilon).
 * The two count different things: the participant's ledger counts the rounds it released, unit
 * "participant" each at the worst case of `minParticipants` survivors; the coordinator counts
 * every round the federation released, with the survivors each actually had (never fewer than
 * `minParticipants`). So the coordinator's figure may be the higher only through rounds this
 * participant did not release. When it released every round from 1 to `round` and the
 * coordinator's ε is still higher, its ledger missed a release or the two accountants disagree:
 * this participant may have spent more than it counts, which `warning` says loudly.
 */
export function reportedEpsilon(report: {
  readonly round: number
  /** ε the coordinator reports spent after `round`. */
  readonly coordinator: number
  /** ε this participant's ledger says it has spent. */
  readonly own: number
  /** The rounds in this participant's ledger for the task: what `own` is composed of. */
  readonly released: readonly number[]
  readonly privacy: PrivacySettings
  /** Who keeps the ledger: "this hospital". */
  readonly holder: string
}): EpsilonReport {
  const { round, coordinator, own, privacy, holder } = report
  const kept = report.released.length
  const worst =
    privacy.unit === 'participant' ? `, each at the worst case of ${privacy.minParticipants} survivors` : ''
  const rounds = `${kept} round${kept === 1 ? '' : 's'} it released${worst}`
  const line = `round ${round}: ε spent ${formatEpsilon(own)} of ${formatEpsilon(privacy.epsilon)} (δ ${formatDelta(privacy.delta)}) by ${holder}'s ledger (${rounds}) · the coordinator reports ε ${formatEpsilon(coordinator)} (every round the federation released, with its survivors)`
  // equal accountants over equal rounds agree to rounding: only a real excess warns
  const everyRound = new Set(report.released.filter((r) => r <= round)).size === round
  if (!everyRound || coordinator <= own * (1 + 1e-6)) return { line, warning: null }
  const [theirs, ours] = distinctEpsilons(coordinator, own)
  return {
    line,
    warning: `WARNING: round ${round}: the coordinator reports ε ${theirs} spent, more than ${holder}'s ledger's ε ${ours}, although ${holder} released an update in each of the ${round} rounds: its ledger may have missed a release, or the two accountants disagree, so ${holder} may have spent more than it counts. Its budget is enforced by its own ledger: check the ledger and ask the coordinator's operator.`,
  }
}
