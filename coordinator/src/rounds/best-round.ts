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
