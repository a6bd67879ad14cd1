import {
  type ClinicalMetrics,
  type Dataset,
  evaluatePredictions,
  foldPrior,
  predictHead,
} from '@fedtune/model'
import type { HeadSpec } from '@fedtune/protocol'

/**
 * The metrics of a head on an embedded set, predicting with `prior` folded into its output bias
 * (null: plain softmax): exact, from the scores themselves.
 */
export function evaluateOn(
  spec: HeadSpec,
  dataset: Dataset,
  options: { readonly ordinal: boolean },
): (weights: Float32Array, prior: readonly number[] | null) => ClinicalMetrics {
  const classes = spec.labels.length
  return (weights, prior) => {
    const head = prior === null ? weights : foldPrior(spec, dataset.dim, weights, prior)
    const probs = predictHead(spec, dataset.dim, head, dataset.x, dataset.n)
    return evaluatePredictions(probs, dataset.y, classes, options)
  }
}
