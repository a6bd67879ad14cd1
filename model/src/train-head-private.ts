import { type HeadSpec, type RandomSource, standardNormal, type TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { checkDataset, type Dataset, subset } from './dataset.ts'
import { flattenParams, headParams } from './head-params.ts'
import { logitOffsets } from './logit-adjustment.ts'
import { createOptimizer } from './optimizer.ts'
import { clippedGradientSum } from './per-example-clip.ts'
import { poissonSample } from './poisson-sample.ts'
import { deriveSeed, seededRandom } from './prng.ts'
import type { TrainProgress } from './train-head.ts'

/** Example-level DP-SGD's parameters (Abadi et al., CCS 2016, Algorithm 1). */
export type DpSgdSettings = {
  /** C: each example's whole gradient is clipped to this L2 norm, the sum's sensitivity. */
  readonly clipNorm: number
  /** z: each step adds Gaussian noise of standard deviation σ = z·C to every coordinate of the sum. */
  readonly noiseMultiplier: number
  /** q: each step includes each example independently with this probability (Poisson sampling). */
  readonly samplingRate: number
}

/** A step's progress; `sampled` is the size of the step's Poisson batch (local display only). */
export type PrivateProgress = TrainProgress & { readonly sampled: number }

export type PrivateTraining = {
  readonly weights: Float32Array
  /**
   * Mean per-example loss over the examples sampled in the last epoch (NaN if none was). For the
   * data holder's own display: it is computed without noise and is not covered by the guarantee.
   */
  readonly loss: number
  /** Poisson-subsampled Gaussian steps taken: what the accountant composes, with `samplingRate`. */
  readonly steps: number
}

/**
 * Steps per epoch round(1/q) (at least 1), so an epoch visits each example once in expectation;
 * training takes `epochs` times that. The accountant composes exactly this many Poisson-subsampled
 * Gaussian steps at rate q, and can compute it before training to check a budget.
 */
export function dpSgdSteps(epochs: number, samplingRate: number): number {
  return epochs * Math.max(1, Math.round(1 / samplingRate))
}

/**
 * DP-SGD on the head: each step Poisson-samples a batch at rate q, clips every sampled example's
 * gradient to C (per-example-clip.ts), adds N(0, (zC)²) to each coordinate of the clipped sum and
 * divides by the fixed expected batch size q·n (not the drawn size, which would leak it: Opacus does
 * the same under Poisson sampling), then takes one step of `settings.optimizer`, which only
 * post-processes the noisy gradient. Sampling and noise draw from `random`, which is part of the
 * mechanism: a participant passes `cryptoRandom()`, a test or simulation a seeded source.
 *
 * What differs from `trainHead`: `settings.batchSize` is not used (the expected batch is q·n, the
 * task's q = batchSize/n); there are `dpSgdSteps(epochs, q)` steps. Balanced class weights are
 * refused, and so is the logit-adjusted loss with the participant's own label mix (`prior` null):
 * both make every example's loss depend on the label counts of the whole dataset, so removing one
 * example would move the others' gradients and the clipped sum's sensitivity would exceed C. A
 * logit-adjusted loss with a given prior works as in `trainHead`. Dropout masks come from
 * `settings.seed` as in `trainHead`; they do not depend on the data, so clipping still bounds each
 * example's share. The denominator q·n and q itself use the dataset size n, which this treats as
 * public (as Opacus and TF Privacy do).
 */
export function trainHeadPrivately(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  data: Dataset,
  settings: TrainingSettings,
  dp: DpSgdSettings,
  random: RandomSource,
  onProgress?: (p: PrivateProgress) => void,
): PrivateTraining {
  checkDpSgd(dp)
  const classes = spec.labels.length
  checkDataset(data, 'trainHeadPrivately: data', inputDim, classes)
  if (data.n === 0) throw new Error('trainHeadPrivately: expected at least one training example')
  if (settings.classWeights !== 'none')
    throw new Error(
      `trainHeadPrivately: class weights "${settings.classWeights}" are computed from this data's label counts, so one example would change every other example's loss and the noise would no longer cover it; use classWeights "none" (a logit-adjusted loss with the federation's prior serves skewed labels)`,
    )
  if (settings.loss === 'logit-adjusted' && settings.prior === null)
    throw new Error(
      "trainHeadPrivately: the logit-adjusted loss with this participant's own label mix (prior null) depends on every example's label, so the noise would not cover one example; give a prior that does not come from this data (the federation's, or uniform)",
    )
  const { epochs } = settings
  const { clipNorm, noiseMultiplier, samplingRate } = dp
  const sigma = noiseMultiplier * clipNorm
  const denominator = samplingRate * data.n
  const perEpoch = dpSgdSteps(1, samplingRate)
  const dropout = seededRandom(deriveSeed(settings.seed, 'dropout'))
  const optimizer = createOptimizer(settings)
  let params = headParams(spec, inputDim, weights)
  const logitOffset =
    settings.loss === 'logit-adjusted' && settings.prior !== null
      ? tf.tensor1d(logitOffsets(settings.prior, classes))
      : undefined
  let epochLoss = Number.NaN
  let steps = 0
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      let lossSum = 0
      let sampled = 0
      for (let s = 0; s < perEpoch; s++) {
        const rows = poissonSample(data.n, samplingRate, random)
        const grads = tf.tidy(() => {
          let sum: tf.Tensor[] | null = null
          if (rows.length > 0) {
            const clipped = clippedGradientSum(
              spec,
              params,
              { ...exampleBatch(data, rows, classes), ...(logitOffset ? { logitOffset } : {}) },
              clipNorm,
              dropout,
            )
            lossSum += clipped.loss.dataSync()[0] as number
            sum = clipped.grads
          }
          return params.map((w, i) => {
            const clippedSum = sum?.[i] ?? tf.zerosLike(w)
            const noisy = sigma > 0 ? tf.add(clippedSum, gaussian(w.shape, sigma, random)) : clippedSum
            return tf.div(noisy, denominator)
          })
        })
        const next = optimizer.step(params, grads)
        tf.dispose([...params, ...grads])
        params = next
        steps++
        sampled += rows.length
        onProgress?.({
          epoch: epoch + 1,
          epochs,
          batch: s + 1,
          batches: perEpoch,
          loss: sampled > 0 ? lossSum / sampled : Number.NaN,
          sampled: rows.length,
        })
      }
      epochLoss = sampled > 0 ? lossSum / sampled : Number.NaN
    }
    const trained = flattenParams(params)
    if (!trained.every(Number.isFinite))
      throw new Error(
        `trainHeadPrivately: the weights diverged after ${steps} steps (last loss ${epochLoss}); the learning rate may be too high`,
      )
    return { weights: trained, loss: epochLoss, steps }
  } finally {
    tf.dispose(params)
    logitOffset?.dispose()
    optimizer.dispose()
  }
}

/** Refuses settings under which the stated guarantee would not hold, naming the value that arrived. */
export function checkDpSgd(dp: DpSgdSettings): void {
  if (!(dp.clipNorm > 0 && Number.isFinite(dp.clipNorm)))
    throw new Error(`DP-SGD: expected a positive, finite clipNorm C, got ${dp.clipNorm}`)
  if (!(dp.noiseMultiplier >= 0 && Number.isFinite(dp.noiseMultiplier)))
    throw new Error(`DP-SGD: expected a finite noiseMultiplier z ≥ 0, got ${dp.noiseMultiplier}`)
  if (!(dp.samplingRate > 0 && dp.samplingRate <= 1))
    throw new Error(`DP-SGD: expected a samplingRate q in (0, 1], got ${dp.samplingRate}`)
}

/** The batch's embeddings and one-hot labels, gathered on the host (one upload, as in trainHead). */
function exampleBatch(
  data: Dataset,
  rows: Int32Array,
  classes: number,
): { x: tf.Tensor2D; oneHot: tf.Tensor2D } {
  const batch = subset(data, rows)
  const oneHot = new Float32Array(batch.n * classes)
  for (let k = 0; k < batch.n; k++) oneHot[k * classes + (batch.y[k] as number)] = 1
  return {
    x: tf.tensor2d(batch.x, [batch.n, batch.dim]),
    oneHot: tf.tensor2d(oneHot, [batch.n, classes]),
  }
}

/** N(0, σ²) in every entry, from `random` (Box–Muller, protocol's standardNormal). */
function gaussian(shape: readonly number[], sigma: number, random: RandomSource): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1)
  const values = new Float32Array(size)
  for (let i = 0; i < size; i++) values[i] = sigma * standardNormal(random)
  return tf.tensor(values, [...shape], 'float32')
}
