import { type EvaluationCounts, emptyEvaluationCounts, type HeadSpec } from '@fedtune/protocol'
import type { Dataset } from './dataset.ts'
import type { ClinicalMetrics } from './metrics/clinical-metrics.ts'
import { countEvaluation } from './metrics/count-evaluation.ts'
import { evaluatePredictions } from './metrics/evaluate-predictions.ts'
import { predictHead } from './predict-head.ts'
import { foldPrior } from './prediction-prior.ts'

/**
 * How the global head a participant received does on the participant's own validation split:
 * `counts` go into the round's contribution (summed securely, so the coordinator learns only the
 * federation's pooled figures); `metrics` are exact and stay on the site, for its own eyes. The head
 * predicts with `prior` folded into its output bias, as the coordinator's evaluation and the
 * exported model do; null is the plain softmax. An empty split counts nothing and has no metrics.
 */
export type ReceivedEvaluation = {
  readonly counts: EvaluationCounts
  readonly metrics: ClinicalMetrics | null
}

export function evaluateReceived(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  prior: readonly number[] | null,
  val: Dataset,
  options: { readonly ordinal?: boolean } = {},
): ReceivedEvaluation {
  const classes = spec.labels.length
  if (val.n === 0) return { counts: emptyEvaluationCounts(classes), metrics: null }
  const head = prior === null ? weights : foldPrior(spec, inputDim, weights, prior)
  const probs = predictHead(spec, inputDim, head, val.x, val.n)
  return {
    counts: countEvaluation(probs, val.y, classes),
    metrics: evaluatePredictions(probs, val.y, classes, options),
  }
}
