import {
  cryptoRandom,
  type HeadSpec,
  type LocalMetrics,
  type PrivacySettings,
  type RandomSource,
  type RoundStart,
  type SecureContribution,
} from '@fedtune/protocol'
import type { Dataset } from './dataset.ts'
import { labelCounts } from './label-counts.ts'
import type { ClinicalMetrics } from './metrics/clinical-metrics.ts'
import { evaluateReceived } from './received-evaluation.ts'
import { type TrainProgress, trainHead } from './train-head.ts'
import { trainHeadPrivately } from './train-head-private.ts'

export type LocalResult = {
  readonly delta: Float32Array
  readonly examples: number
  readonly labelCounts: readonly number[]
  /** The training loss, and the received global head's counts on the validation split (what is sent). */
  readonly metrics: LocalMetrics
  /** The received global head on the validation split, exactly: this site's own view, never sent. */
  readonly received: ClinicalMetrics | null
  /**
   * DP-SGD steps taken (what the participant's accountant composes) under example-level privacy;
   * null otherwise. The training loss is then the noise-free mean over the last epoch's sampled
   * examples (NaN if none was sampled), for this site's display only.
   */
  readonly privateSteps: number | null
}

/** A participant's embedded data: the part it trains on and the part it holds out. */
export type LocalData = { readonly train: Dataset; readonly val: Dataset }

export type LocalRoundOptions = {
  /** Whether the class order is a grade order (QWK and MAE in `received`); the task's head says. */
  readonly ordinal?: boolean
  readonly onProgress?: ((p: TrainProgress) => void) | undefined
  /**
   * The task's differential privacy (`TaskInfo.privacy`): with unit "example" the head is trained
   * with DP-SGD at its C, z and q; with unit "participant" (noised when encoded) or none, as usual.
   */
  readonly privacy?: PrivacySettings | null
  /**
   * Where DP-SGD's sampling and noise draw from: called once, before training; the platform's
   * cryptographic source unless a test says otherwise. When it throws the round fails, untrained.
   */
  readonly random?: () => RandomSource
}

/**
 * One round at a participant (a hospital's client or a volunteer's Web Worker): measure the global
 * head it received on the local validation split (with the round's prediction prior), train that
 * head on the local training split, and return only Δ = w_local − w_global with the example count,
 * its split by class, the training loss and the received head's evaluation counts. Under
 * example-level privacy training is DP-SGD (`trainHeadPrivately`); what of this result is sent is
 * `encodeRoundContribution`'s choice (protocol): under privacy Δ alone, never the counts.
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
  const privacy = options.privacy ?? null
  if (privacy?.unit === 'example') {
    const { clipNorm, noiseMultiplier, samplingRate } = privacy
    const trained = trainHeadPrivately(
      spec,
      inputDim,
      round.weights,
      data.train,
      round.training,
      { clipNorm, noiseMultiplier, samplingRate },
      (options.random ?? cryptoRandom)(),
      options.onProgress,
    )
    return result(round, data, spec, trained.weights, trained.loss, received, trained.steps)
  }
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
  return result(round, data, spec, weights, loss, received, null)
}

function result(
  round: RoundStart,
  data: LocalData,
  spec: HeadSpec,
  weights: Float32Array,
  loss: number,
  received: ReturnType<typeof evaluateReceived>,
  privateSteps: number | null,
): LocalResult {
  const delta = new Float32Array(weights.length)
  for (let i = 0; i < weights.length; i++) delta[i] = (weights[i] as number) - (round.weights[i] as number)
  return {
    delta,
    examples: data.train.n,
    labelCounts: labelCounts(data.train.y, spec.labels.length),
    metrics: { trainLoss: loss, evaluation: received.counts },
    received: received.metrics,
    privateSteps,
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
