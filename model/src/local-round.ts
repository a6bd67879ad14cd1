import { accuracy, labelCounts, predictHead, rocAuc, type TrainProgress, trainHead } from '@fedtune/model'
import type { HeadSpec, LocalMetrics, RoundStart } from '@fedtune/protocol'
import type { PreparedData } from './prepare.ts'

export type LocalResult = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  /** Validation examples predicted right, exactly (valAccuracy × valExamples, without rounding). */
  readonly valCorrect: number
  readonly metrics: LocalMetrics
}

/**
 * One round at a hospital: train the global head on the local training split, measure it on the
 * local validation split, and return only Δ = w_local − w_global with the example count, its split
 * by class and summary metrics.
 */
export function localRound(
  spec: HeadSpec,
  inputDim: number,
  data: PreparedData,
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
