import { labelMix } from '@fedtune/model'
import type { TrainingSettings } from '@fedtune/protocol'

/**
 * The label mix a logit-adjusted head predicts with: 'federation', the round's contributors' (from
 * their summed label counts); 'uniform', every label alike (plain softmax); or a fixed, public mix
 * (the coordinator's validation set's, `{ fixed }`), which needs no participant's counts.
 */
export type PredictionPrior = 'federation' | 'uniform' | { readonly fixed: readonly number[] }

/**
 * The π the logit-adjusted loss trains with: 'local', each participant's own label mix;
 * 'federation', the last aggregate's (label-prior.ts); or a fixed, public mix (`{ fixed }`: uniform or
 * the validation set's), the only kind a private task may use when its counts stay out of the sum.
 */
export type TrainingPrior = 'local' | 'federation' | { readonly fixed: readonly number[] }

/**
 * The prior a round's head predicts with, folded into its output bias (model's foldPrior) wherever
 * it predicts: the coordinator's evaluation, the participants' and the exported model. A
 * logit-adjusted head predicts as if every label were equally common; with the task's
 * `evaluation.prior: "federation"` (the default) it predicts with the label mix of the round's
 * contributors instead, `labelMix(labelCounts)`, and with `"validation"` with that set's. Null (plain
 * softmax) with `"uniform"`, with cross-entropy (whose head has the training mix in its bias already)
 * and before any aggregate.
 */
export function roundPrior(
  loss: TrainingSettings['loss'],
  prior: PredictionPrior,
  labelCounts: readonly number[] | null | undefined,
  classes: number,
): number[] | null {
  if (loss !== 'logit-adjusted' || prior === 'uniform') return null
  if (prior === 'federation') return labelMix(labelCounts, classes)
  return [...prior.fixed]
}
