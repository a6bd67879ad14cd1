import { type PredictionPrior, roundPrior } from '@fedtune/coordinator'
import {
  type ClinicalMetrics,
  type Dataset,
  evaluatePredictions,
  foldPrior,
  labelCounts,
  predictHead,
  type SelectionMetric,
} from '@fedtune/model'
import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'

/**
 * What a simulation is measured on, as the task's `evaluation` names it: the coordinator's validation
 * set chooses (the round, the epoch), the test set is only reported.
 */
export type HeldOut = {
  readonly validation: Dataset | null
  readonly test: Dataset | null
  readonly metric: SelectionMetric
  /** Stop after this many rounds (or epochs) without a better validation figure; null runs them all. */
  readonly patience: number | null
  /** The label mix a logit-adjusted head predicts with: its training data's, a fixed one, or none (uniform). */
  readonly prior: PredictionPrior
  readonly ordinal: boolean
}

/**
 * The head chosen on validation (the last one without a validation set) and its figures: what the
 * coordinator would export. `weights` predict with `prior` already folded in.
 */
export type HeadChoice = {
  /** The chosen round (federated) or epoch (references), 1-based. */
  readonly chosen: number
  /** Rounds or epochs run: fewer than asked when patience ran out. */
  readonly ran: number
  readonly validation: ClinicalMetrics | null
  readonly test: ClinicalMetrics | null
  /**
   * The same head's test metrics predicting without the prior (uniform): the trade-off the task's
   * `evaluation.prior` chooses. null when the head has no prior (then it is `test`).
   */
  readonly testUniform: ClinicalMetrics | null
  readonly prior: number[] | null
  readonly weights: Float32Array
}

/**
 * The prior a head predicts with (docs: "The prior at prediction"): the coordinator's rule
 * (roundPrior), so a simulated head predicts as the real one would.
 */
export function predictionPrior(
  loss: TrainingSettings['loss'],
  prior: HeldOut['prior'],
  counts: readonly number[] | null,
  classes: number,
): number[] | null {
  return roundPrior(loss, prior, counts, classes)
}

/** The label counts of a data set, for `predictionPrior`. */
export function countsOf(data: Dataset, classes: number): number[] {
  return labelCounts(data.y, classes)
}

/** The head with its prior folded in: the weights the coordinator evaluates and exports. */
export function withPrior(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  prior: readonly number[] | null,
): Float32Array {
  return prior === null ? weights : foldPrior(spec, inputDim, weights, prior)
}

/** Exact metrics of `weights` (prior already folded) on `data`; null for an empty or missing set. */
export function scoreHead(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  data: Dataset | null,
  ordinal: boolean,
): ClinicalMetrics | null {
  if (data === null || data.n === 0) return null
  const probs = predictHead(spec, inputDim, weights, data.x, data.n)
  return evaluatePredictions(probs, data.y, spec.labels.length, { ordinal })
}
