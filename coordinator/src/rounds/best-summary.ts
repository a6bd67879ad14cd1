import type { ClinicalMetrics, SelectionMetric } from '@fedtune/model'
import type { RoundRecord } from './round-record.ts'

/** A set's headline figures, for a one-line view. */
export type Headline = {
  readonly examples: number
  readonly accuracy: number
  readonly balancedAccuracy: number
  readonly auc: number | null
  /** Quadratic weighted kappa, for ordinal labels; null otherwise (or undefined). */
  readonly qwk: number | null
}

/** The run's best round by validation so far, as operators' views show it (GET /api/status, fedtune status). */
export type BestSummary = {
  readonly round: number
  readonly metric: SelectionMetric
  /** Its validation figure by `metric`. */
  readonly value: number
  readonly validation: Headline | null
  /** What to quote of the run: the best round's test figures; null without a test set. */
  readonly test: Headline | null
}

/** The best round the last kept record names, with its figures; null before any validation figure. */
export function bestSummary(records: readonly RoundRecord[], metric: SelectionMetric): BestSummary | null {
  // records kept before the best round existed have no `best`
  const best = records.at(-1)?.best ?? null
  if (best === null) return null
  const record = records.find((r) => r.round === best.round)
  return {
    round: best.round,
    metric,
    value: best.value,
    validation: headline(record?.validation ?? null),
    test: headline(record?.test ?? null),
  }
}

function headline(m: ClinicalMetrics | null): Headline | null {
  if (m === null) return null
  return {
    examples: m.examples,
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    auc: m.auc,
    qwk: m.ordinal?.qwk ?? null,
  }
}
