import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { balancedClassWeights } from './class-weights.ts'
import { checkDataset, type Dataset } from './dataset.ts'
import { headGradients } from './head-gradients.ts'
import { flattenParams, headParams } from './head-params.ts'
import { logitAdjustment, logitOffsets } from './logit-adjustment.ts'
import { createOptimizer } from './optimizer.ts'
import { deriveSeed, permutation, seededRandom } from './prng.ts'

export type TrainProgress = {
  readonly epoch: number
  readonly epochs: number
  readonly batch: number
  readonly batches: number
  /** Mean training loss of this epoch so far. */
  readonly loss: number
}

/**
 * Trains the head from `weights` on `data` and returns the new flat weights and the mean
 * (class-weighted) training loss of the last epoch. The optimizer starts fresh on every call: in a
 * federated round each participant begins from the global weights with no carried-over state.
 * Shuffling and dropout are drawn from `settings.seed`, so a round is reproducible. With
 * `settings.loss` 'logit-adjusted' the loss (and the returned figure) is on softmax(z + log π), π this
 * data's label mix or `settings.prior` when given (logit-adjustment.ts); the weights returned predict
 * with plain softmax(z).
 */
export function trainHead(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  data: Dataset,
  settings: TrainingSettings,
  onProgress?: (p: TrainProgress) => void,
  /**
   * The weights after each epoch, e.g. to choose the epoch on validation (fedtune simulate's
   * references); returning 'stop' ends training there.
   */
  onEpochEnd?: (epoch: number, weights: Float32Array) => 'stop' | undefined,
): { weights: Float32Array; loss: number } {
  const classes = spec.labels.length
  checkDataset(data, 'trainHead: data', inputDim, classes)
  if (data.n === 0) throw new Error('trainHead: expected at least one training example')
  const { epochs, batchSize } = settings
  const classWeight =
    settings.classWeights === 'balanced'
      ? balancedClassWeights(data.y, classes)
      : new Float32Array(classes).fill(1)
  const shuffle = seededRandom(deriveSeed(settings.seed, 'shuffle'))
  const dropout = seededRandom(deriveSeed(settings.seed, 'dropout'))
  const batches = Math.ceil(data.n / batchSize)
  const optimizer = createOptimizer(settings)
  let params = headParams(spec, inputDim, weights)
  // By default the prior is this participant's own label mix: that is the skew the adjustment
  // cancels. A federation-wide prior instead makes the local loss a term of one global loss.
  const logitOffset =
    settings.loss !== 'logit-adjusted'
      ? undefined
      : tf.tensor1d(settings.prior ? logitOffsets(settings.prior, classes) : logitAdjustment(data.y, classes))
  let epochLoss = 0
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = permutation(data.n, shuffle)
      let lossSum = 0
      for (let b = 0; b < batches; b++) {
        const rows = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, data.n))
        const { x, oneHot, weight } = batchArrays(data, rows, classes, classWeight)
        const { loss, grads } = tf.tidy(() =>
          headGradients(
            spec,
            params,
            {
              x: tf.tensor2d(x, [rows.length, data.dim]),
              oneHot: tf.tensor2d(oneHot, [rows.length, classes]),
              weight: tf.tensor1d(weight),
              ...(logitOffset ? { logitOffset } : {}),
            },
            dropout,
          ),
        )
        const next = optimizer.step(params, grads)
        tf.dispose([...params, ...grads])
        params = next
        // Batch losses are means over the batch; weight by rows so the epoch figure is a mean over examples.
        lossSum += (loss.dataSync()[0] as number) * rows.length
        loss.dispose()
        onProgress?.({
          epoch: epoch + 1,
          epochs,
          batch: b + 1,
          batches,
          loss: lossSum / Math.min((b + 1) * batchSize, data.n),
        })
      }
      epochLoss = lossSum / data.n
      if (onEpochEnd?.(epoch + 1, flattenParams(params)) === 'stop') break
    }
    if (!Number.isFinite(epochLoss)) throw new Error(`trainHead: the training loss diverged (${epochLoss})`)
    return { weights: flattenParams(params), loss: epochLoss }
  } finally {
    tf.dispose(params)
    logitOffset?.dispose()
    optimizer.dispose()
  }
}

/** Gathers a batch on the host: one upload per batch is cheaper than a device-side gather on wasm. */
function batchArrays(
  data: Dataset,
  rows: Int32Array,
  classes: number,
  classWeight: Float32Array,
): { x: Float32Array; oneHot: Float32Array; weight: Float32Array } {
  const { dim } = data
  const x = new Float32Array(rows.length * dim)
  const oneHot = new Float32Array(rows.length * classes)
  const weight = new Float32Array(rows.length)
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number
    const label = data.y[i] as number
    x.set(data.x.subarray(i * dim, (i + 1) * dim), k * dim)
    oneHot[k * classes + label] = 1
    weight[k] = (classWeight[label] as number) / rows.length
  }
  return { x, oneHot, weight }
}
