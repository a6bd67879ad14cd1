import { labelMix } from '@fedtune/model'
import type { TrainingSettings } from '@fedtune/protocol'

/**
 * The prior a round's head predicts with, folded into its output bias (model's foldPrior) wherever
 * it predicts: the coordinator's evaluation, the participants' and the exported model. A
 * logit-adjusted head predicts as if every label were equally common; with the task's
 * `evaluation.prior: "federation"` (the default) it predicts with the label mix of the round's
 * contributors instead, `labelMix(labelCounts)`. Null (plain softmax) with `"uniform"`, with
 * cross-entropy (whose head has the training mix in its bias already) and before any aggregate.
 */
export function roundPrior(
  loss: TrainingSettings['loss'],
  prior: 'federation' | 'uniform',
  labelCounts: readonly number[] | null | undefined,
  classes: number,
): number[] | null {
  if (loss !== 'logit-adjusted' || prior !== 'federation') return null
  return labelMix(labelCounts, classes)
}
