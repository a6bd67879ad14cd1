import type { BestRoundMetric, BestRoundView } from '@fedtune/protocol'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { TaskFile } from '../tasks/task-file.ts'

/**
 * The best round so far as the console shows it: the newest record's `best` (each record carries
 * the best up to it), named by the task's validation metric; null before a round had a validation figure.
 */
export function bestRoundView(
  records: readonly RoundRecord[],
  metric: BestRoundMetric,
): BestRoundView | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const best = records[i]?.best
    if (best) return { round: best.round, metric, value: best.value }
  }
  return null
}

/** The metric a task chooses its best round by (`evaluation.metric`); AUC when it names none. */
export function bestRoundMetric(task: TaskFile | undefined): BestRoundMetric {
  const evaluation = task?.evaluation as { readonly metric?: BestRoundMetric } | null | undefined
  return evaluation?.metric ?? 'auc'
}
