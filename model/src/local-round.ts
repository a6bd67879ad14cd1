import type { HeadSpec, LocalMetrics, RoundStart, SecureContribution } from '@fedtune/protocol'
import type { Dataset } from './dataset.ts'
import { labelCounts } from './label-counts.ts'
import type { ClinicalMetrics } from './metrics/clinical-metrics.ts'
import { evaluateReceived } from './received-evaluation.ts'
import { type TrainProgress, trainHead } from './train-head.ts'

export type LocalResult = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  /** The training loss, and the received global head's counts on the validation split (what is sent). */
  readonly metrics: LocalMetrics
  /** The received global head on the validation split, exactly: this site's own view, never sent. */
  readonly received: ClinicalMetrics | null
}

/** A participant's embedded data: the part it trains on and the part it holds out. */
export type LocalData = { readonly train: Dataset; readonly val: Dataset }

export type LocalRoundOptions = {
  /** Whether the class order is a grade order (QWK and MAE in `received`); the task's head says. */
  readonly ordinal?: boolean
  readonly onProgress?: ((p: TrainProgress) => void) | undefined
}

/**
 * One round at a participant (a hospital's client or a volunteer's Web Worker): measure the global
 * head it received on the local validation split (with the round's prediction prior), train that
 * head on the local training split, and return only Δ = w_local − w_global with the example count,
 * its split by class, the training loss and the received head's evaluation counts.
 */
export function localRound(
  spec: HeadSpec,
  inputDim: number,
  data: LocalData,
  round: RoundStart,
  options: LocalRoundOptions = {},
): LocalResult {
  const received = evaluateReceived(spec, inputDim, round.weights, round.predictionPrior, data.val, {
    ordinal: options.ordinal ?? false,
  })
  const { weights, loss } = trainHead(
    spec,
    inputDim,
    round.weights,
    data.train,
    round.training,
    options.onProgress,
  )
  if (!Number.isFinite(loss))
    throw new Error(
      `round ${round.round}: local training diverged (loss ${loss}); the task's learning rate may be too high`,
    )
  const delta = new Float32Array(weights.length)
  for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (round.weights[i] as number)
  return {
    delta,
    examples: data.train.n,
    labelCounts: labelCounts(data.train.y, spec.labels.length),
    metrics: { trainLoss: loss, evaluation: received.counts },
    received: received.metrics,
  }
}

/** What a participant puts into a secure round's masked sum from its local round (secure-update.ts). */
export function secureContribution(r: LocalResult): SecureContribution {
  return {
    delta: r.delta,
    examples: r.examples,
    labelCounts: r.labelCounts,
    evaluation: r.metrics.evaluation,
  }
}
