import type { Exclusion } from '../participants/exclusion.ts'
import type { ContributionRecord } from './round.ts'

/** What the coordinator records about one round, one JSON line each in rounds.jsonl. */
export type RoundRecord = {
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  readonly startedAt: string
  readonly durationMs: number
  readonly selected: readonly string[]
  readonly contributions: readonly ContributionRecord[]
  readonly dropped: readonly string[]
  readonly examples: number
  /** Training examples per class over the round's contributors (null for a failed round). */
  readonly labelCounts?: readonly number[] | null
  /** The global head on the coordinator's held-out set, when it has one. */
  readonly global: {
    readonly accuracy: number
    readonly auc: number | null
    readonly examples: number
  } | null
  /** Example-weighted mean of the participants' own validation metrics. */
  readonly local: {
    readonly valAccuracy: number | null
    readonly valAuc: number | null
    readonly trainLoss: number | null
  } | null
  /** Secure rounds: the participants whose updates are in the sum (no one's own numbers are known). */
  readonly survivors?: readonly string[]
  /** Secure rounds: participants a complaint named the culprit, excluded from the rest of the run. */
  readonly excluded?: readonly Exclusion[]
  /** Secure rounds: pairs whose complaints against each other the coordinator could not settle (out of the round only). */
  readonly disputed?: readonly Exclusion[]
}
