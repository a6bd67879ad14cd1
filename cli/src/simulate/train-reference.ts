import { type Dataset, initHead, labelCounts, trainHead } from '@fedtune/model'
import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'
import { type HeadChoice, type HeldOut, predictionPrior } from './held-out.ts'
import { validationChoice } from './validation-choice.ts'

/**
 * How the references train: as a hospital's client would on its own, with the task file's default
 * local optimizer (Adam, rate 0.001, batch 32), the task's loss and class weights, for up to
 * `epochs` epochs, the epoch chosen on validation like a federated round. Not the task's own local
 * settings: a federated recipe may be one full-batch gradient step per round (the label-skew recipe),
 * which trains nothing worth comparing when run alone.
 */
export type ReferenceRecipe = {
  readonly spec: HeadSpec
  readonly inputDim: number
  readonly loss: TrainingSettings['loss']
  readonly classWeights: TrainingSettings['classWeights']
  readonly epochs: number
  readonly seed: number
}

export const REFERENCE_TRAINING = { optimizer: 'adam', learningRate: 0.001, batchSize: 32 } as const

export type EpochProgress = { readonly epoch: number; readonly epochs: number }

/**
 * One head trained on `data` alone (all hospitals pooled: the centralized reference; one hospital:
 * a local-only one). Its prior at prediction is `data`'s own label mix, the analogue of the
 * federation's.
 */
export function trainReference(
  recipe: ReferenceRecipe,
  data: Dataset,
  heldOut: HeldOut,
  onEpoch?: (p: EpochProgress) => void,
): HeadChoice {
  const { spec, inputDim, epochs } = recipe
  const classes = spec.labels.length
  const prior = predictionPrior(recipe.loss, heldOut.prior, labelCounts(data.y, classes), classes)
  const chooser = validationChoice(spec, inputDim, heldOut)
  const settings: TrainingSettings = {
    ...REFERENCE_TRAINING,
    epochs,
    loss: recipe.loss,
    classWeights: recipe.classWeights,
    prior: null,
    seed: recipe.seed,
  }
  trainHead(
    spec,
    inputDim,
    initHead(spec, inputDim, recipe.seed),
    data,
    settings,
    undefined,
    (epoch, weights) => {
      onEpoch?.({ epoch, epochs })
      return chooser.offer(epoch, weights, prior).stop ? 'stop' : undefined
    },
  )
  return chooser.choice()
}
