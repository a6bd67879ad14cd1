import { type ClinicalMetrics, dominantWarning, pooledMetrics } from '@fedtune/model'
import { PRIVATE_NO_EVALUATION, type RoundResult } from '@fedtune/protocol'
import type { Exclusion } from '../participants/exclusion.ts'
import type { PrivacyRecord } from '../privacy/round-privacy.ts'
import type { BestRound } from './best-round.ts'
import type { ContributionRecord, Effect } from './round.ts'

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
  /** Training examples over the round's contributors; 0 in a private task, whose sum counts none. */
  readonly examples: number
  /** Training examples per class over the round's contributors (null for a failed round). */
  readonly labelCounts?: readonly number[] | null
  /** The round's head on the coordinator's validation set (`evaluation.validation`), with the round's prior. */
  readonly validation: ClinicalMetrics | null
  /** The round's head on the coordinator's test set (`evaluation.test`), with the round's prior. */
  readonly test: ClinicalMetrics | null
  /**
   * The global head the participants received at this round's start, on their own validation data:
   * the pooled counts of the secure sum (no site's own figures), read as metrics.
   */
  readonly participants: ClinicalMetrics | null
  /**
   * Why an aggregated round has no `participants` figures: its sum's counts do not add up, or (a
   * private task) they were never in it. Absent when there are figures, or for a failed round.
   */
  readonly participantsReason?: string
  /**
   * A private task's budget after this round: ε spent by the run up to and including it, of the
   * target, at δ, and how many participants' updates it released. null without privacy (absent in
   * records kept before privacy existed).
   */
  readonly privacy?: PrivacyRecord | null
  /** The label mix the round's head predicts with (folded into its output bias); null: uniform. */
  readonly prior: readonly number[] | null
  /** The best round so far by the task's validation metric, this one included. */
  readonly best: BestRound
  /** What an operator should know about the round's head (e.g. it predicts one class for > 95 % of a set). */
  readonly warnings: readonly string[]
  /** Secure rounds: the participants whose updates are in the sum (no one's own numbers are known). */
  readonly survivors?: readonly string[]
  /** Secure rounds: participants a complaint named the culprit, excluded from the rest of the run. */
  readonly excluded?: readonly Exclusion[]
  /** Secure rounds: pairs whose complaints against each other the coordinator could not settle (out of the round only). */
  readonly disputed?: readonly Exclusion[]
}

type RoundEnded = Extract<Effect, { type: 'round-aggregated' | 'round-failed' }>

/** What a round's record is built from, besides the effect that ended it. */
export type RoundEnding = {
  readonly selected: readonly string[]
  /** The task's class names, and whether their order is a grade order (QWK and MAE): how pooled counts read. */
  readonly labels: readonly string[]
  readonly ordinal?: boolean
  readonly startedAt: number
  readonly endedAt: number
  readonly validation?: ClinicalMetrics | null
  readonly test?: ClinicalMetrics | null
  readonly prior?: readonly number[] | null
  readonly best?: BestRound
  readonly warnings?: readonly string[]
  /** What the round's complaints established (secure rounds). */
  readonly blame?:
    | { readonly excluded: readonly Exclusion[]; readonly disputed: readonly Exclusion[] }
    | undefined
}

/** The record of a round that ended with `effect`: a pure function of what the round logic and the shell saw. */
export function buildRoundRecord(effect: RoundEnded, ending: RoundEnding): RoundRecord {
  const aggregated = effect.type === 'round-aggregated'
  const secure = aggregated ? effect.secure : null
  const pooled = aggregated
    ? participantsOf(effect.evaluation, ending)
    : { metrics: null, reason: null, warnings: [] }
  return {
    round: effect.round,
    status: aggregated ? 'aggregated' : 'failed',
    reason: aggregated ? null : effect.reason,
    startedAt: new Date(ending.startedAt).toISOString(),
    durationMs: ending.endedAt - ending.startedAt,
    selected: ending.selected,
    contributions: effect.contributions,
    dropped: effect.dropped,
    examples: aggregated ? effect.examples : 0,
    labelCounts: aggregated ? effect.labelCounts : null,
    validation: aggregated ? (ending.validation ?? null) : null,
    test: aggregated ? (ending.test ?? null) : null,
    participants: pooled.metrics,
    ...(pooled.reason === null ? {} : { participantsReason: pooled.reason }),
    privacy: effect.privacy,
    prior: aggregated ? (ending.prior ?? null) : null,
    best: ending.best ?? null,
    warnings: [...(ending.warnings ?? []), ...pooled.warnings],
    ...(secure ? { survivors: secure.survivors } : {}),
    ...(ending.blame?.excluded.length ? { excluded: ending.blame.excluded } : {}),
    ...(ending.blame?.disputed.length ? { disputed: ending.blame.disputed } : {}),
  }
}

/**
 * What every participant is told of a round once its record is kept: the test figures (validation's
 * without a test set), and how many participants' updates the round released (`participants`): the
 * survivors of its secure sum, its plaintext contributors, or, for a private round that failed after
 * releasing (its unmasking asked for, or stopped then), the survivors its ε was accounted with.
 */
export function roundResult(record: RoundRecord): RoundResult {
  const shown = reportedSet(record)
  return {
    round: record.round,
    status: record.status,
    reason: record.reason,
    participants: Math.max(
      record.survivors ? record.survivors.length : record.contributions.length,
      record.privacy?.survivors ?? 0,
    ),
    accuracy: shown?.accuracy ?? null,
    auc: shown?.auc ?? null,
    epsilon: record.privacy?.epsilon ?? null,
  }
}

/**
 * The figures a one-number view (a participant's result, the console's chart) shows of a round: its
 * test set's, or its validation set's when the task has no test set; null without either.
 */
export function reportedSet(record: RoundRecord): ClinicalMetrics | null {
  // records kept before validation and test existed have neither field
  return record.test ?? record.validation ?? null
}

/**
 * The participants' pooled figures for the head they received: read from the summed counts, or
 * none and why: a private task's sum carries no counts (said once, in the record), or the counts do
 * not add up (someone sent inconsistent ones; the sum cannot say who), which is also a warning.
 */
function participantsOf(
  evaluation: Extract<RoundEnded, { type: 'round-aggregated' }>['evaluation'],
  ending: RoundEnding,
): { metrics: ClinicalMetrics | null; reason: string | null; warnings: string[] } {
  if (!evaluation.ok)
    return {
      metrics: null,
      reason: evaluation.reason,
      warnings:
        evaluation.reason === PRIVATE_NO_EVALUATION
          ? []
          : [
              `participants: their pooled evaluation counts do not add up (${evaluation.reason}); no pooled figures this round`,
            ],
    }
  const metrics = pooledMetrics(evaluation.counts, ending.labels.length, { ordinal: ending.ordinal ?? false })
  const dominant = metrics && dominantWarning(metrics, ending.labels, 'participants')
  return { metrics, reason: null, warnings: dominant ? [dominant] : [] }
}
