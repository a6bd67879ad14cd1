import type { SelectionMetric } from '@fedtune/model'

/** The best round so far by the task's validation metric (higher is better). */
export type BestRound = { readonly round: number; readonly value: number } | null

/**
 * The best round after `round` scored `value` (null: no validation figure, e.g. a failed round or
 * an undefined AUC, which never improves). A tie keeps the earlier round: the same figure reached
 * later is no reason to move.
 */
export function nextBest(best: BestRound, round: number, value: number | null): BestRound {
  if (value === null || !Number.isFinite(value)) return best
  if (best === null || value > best.value) return { round, value }
  return best
}

/**
 * Whether a run with `patience` should stop after `round`: that many rounds have ended since the
 * best one (or since the start, when none has a validation figure yet).
 */
export function patienceRunOut(best: BestRound, round: number, patience: number | null): boolean {
  if (patience === null) return false
  return round - (best?.round ?? 0) >= patience
}

/** How a run that patience ended says so (its reason starts with this; the run is then finished). */
export const EARLY_STOP = 'stopped early'

/** The metric in an operator's words. */
export function metricName(metric: SelectionMetric): string {
  switch (metric) {
    case 'auc':
      return 'AUC'
    case 'accuracy':
      return 'accuracy'
    case 'balancedAccuracy':
      return 'balanced accuracy'
    case 'qwk':
      return 'QWK'
  }
}

/**
 * Why patience ended the run after `round`: "stopped early: validation AUC has not improved for 20
 * rounds (best: round 12, 0.913)".
 */
export function earlyStop(
  best: BestRound,
  round: number,
  selection: { readonly metric: SelectionMetric; readonly patience: number | null },
): string {
  const name = `validation ${metricName(selection.metric)}`
  if (best === null) return `${EARLY_STOP}: no ${name} in ${round} round${round === 1 ? '' : 's'}`
  const since = round - best.round
  return `${EARLY_STOP}: ${name} has not improved for ${since} round${since === 1 ? '' : 's'} (best: round ${best.round}, ${best.value.toFixed(3)})`
}
