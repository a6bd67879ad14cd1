import { rocAuc } from '../roc-auc.ts'
import type { ClinicalMetrics } from './clinical-metrics.ts'
import { fromConfusion } from './confusion-metrics.ts'
import { countEvaluation } from './count-evaluation.ts'

/** Bins of the expected calibration error. */
const ECE_BINS = 15

/**
 * A head's metrics from its predictions (row-major n·C probabilities) on examples labelled
 * `labels`: the coordinator's own validation and test sets, a hospital's own validation split. AUC
 * and ECE are computed from the scores themselves.
 */
export function evaluatePredictions(
  probs: Float32Array,
  labels: Int32Array,
  classes: number,
  options: { readonly ordinal?: boolean } = {},
): ClinicalMetrics {
  if (labels.length === 0) throw new Error('evaluatePredictions: expected at least one example')
  const counts = countEvaluation(probs, labels, classes)
  return fromConfusion(counts.confusion, classes, {
    auc: rocAuc(probs, labels, classes),
    ece: expectedCalibrationError(probs, labels, classes),
    binned: false,
    ordinal: options.ordinal ?? false,
  })
}

/** Σ_b (n_b / n)·|accuracy_b − mean confidence_b| over 15 equal bins of the top probability. */
export function expectedCalibrationError(probs: Float32Array, labels: Int32Array, classes: number): number {
  const n = labels.length
  const count = new Float64Array(ECE_BINS)
  const correct = new Float64Array(ECE_BINS)
  const confidence = new Float64Array(ECE_BINS)
  for (let i = 0; i < n; i++) {
    let best = 0
    for (let c = 1; c < classes; c++)
      if ((probs[i * classes + c] as number) > (probs[i * classes + best] as number)) best = c
    const p = probs[i * classes + best] as number
    const bin = Math.min(ECE_BINS - 1, Math.floor(p * ECE_BINS))
    count[bin] = (count[bin] as number) + 1
    confidence[bin] = (confidence[bin] as number) + p
    if (best === labels[i]) correct[bin] = (correct[bin] as number) + 1
  }
  let ece = 0
  for (let b = 0; b < ECE_BINS; b++)
    if ((count[b] as number) > 0) ece += Math.abs((correct[b] as number) - (confidence[b] as number)) / n
  return ece
}
