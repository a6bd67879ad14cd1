import type { HeadSpec, LocalMetrics, RoundStart, SecureContribution } from '@fedtune/protocol'
import { accuracy } from './accuracy.ts'
import type { Dataset } from './dataset.ts'
import { labelCounts } from './label-counts.ts'
import { predictHead } from './predict-head.ts'
import { rocAuc } from './roc-auc.ts'
import { type TrainProgress, trainHead } from './train-head.ts'

export type LocalResult = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  /** Validation examples predicted right, exactly (valAccuracy × valExamples, without rounding). */
  readonly valCorrect: number
  readonly metrics: LocalMetrics
}

/** A participant's embedded data: the part it trains on and the part it holds out. */
export type LocalData = { readonly train: Dataset; readonly val: Dataset }

/**
 * One round at a participant (a hospital's client or a volunteer's Web Worker): train the global head on the local training split, measure it on the
 * local validation split, and return only Δ = w_local − w_global with the example count, its split
 * by class and summary metrics.
 */
export function localRound(
  spec: HeadSpec,
  inputDim: number,
  data: LocalData,
  round: RoundStart,
  onProgress?: (p: TrainProgress) => void,
): LocalResult {
  const { weights, loss } = trainHead(spec, inputDim, round.weights, data.train, round.training, onProgress)
  if (!Number.isFinite(loss))
    throw new Error(
      `round ${round.round}: local training diverged (loss ${loss}); the task's learning rate may be too high`,
    )
  const delta = new Float32Array(weights.length)
  for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (round.weights[i] as number)
  let valAccuracy: number | null = null
  let valAuc: number | null = null
  let valCorrect = 0
  if (data.val.n > 0) {
    const probs = predictHead(spec, inputDim, weights, data.val.x, data.val.n)
    valAccuracy = accuracy(probs, data.val.y, spec.labels.length)
    valAuc = rocAuc(probs, data.val.y, spec.labels.length)
    valCorrect = Math.round(valAccuracy * data.val.n)
  }
  return {
    delta,
    examples: data.train.n,
    labelCounts: labelCounts(data.train.y, spec.labels.length),
    valCorrect,
    metrics: { trainLoss: loss, valAccuracy, valAuc, valExamples: data.val.n },
  }
}

/** What a participant puts into a secure round's masked sum from its local round (secure-update.ts). */
export function secureContribution(r: LocalResult): SecureContribution {
  return {
    delta: r.delta,
    examples: r.examples,
    labelCounts: r.labelCounts,
    valExamples: r.metrics.valExamples,
    valCorrect: r.valCorrect,
  }
}
