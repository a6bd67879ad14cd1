import type { ServerOptimizer } from '@fedtune/coordinator'
import type { SelectionMetric } from '@fedtune/model'
import {
  fixedPointFor,
  type HeadLayer,
  IMAGE_VIEWS,
  type ImageView,
  type TrainingSettings,
} from '@fedtune/protocol'
import type { FederationRecipe } from 'fedtune/simulate'

/**
 * The benches' one recipe (bench/accuracy.ts, and bench/privacy.ts without privacy): each hospital
 * sends Δ = −∇L_k, one plain SGD step at rate 1 over all its data (a batch larger than any site), on
 * the logit-adjusted loss; the coordinator applies Adam to the mean (FedAdam, Reddi et al., ICLR 2021).
 */
export const GRADIENT: Omit<TrainingSettings, 'seed' | 'prior'> = {
  epochs: 1,
  batchSize: 65536,
  optimizer: 'sgd',
  learningRate: 1,
  classWeights: 'none',
  loss: 'logit-adjusted',
}
export const FEDADAM: ServerOptimizer & { readonly optimizer: 'adam' } = {
  optimizer: 'adam',
  learningRate: 0.01,
  beta1: 0.9,
  beta2: 0.99,
  epsilon: 1e-3,
}

/**
 * What bench/accuracy.ts runs as "the recipe", as a task file would say it: the local step and the
 * server (training, aggregation.server), the rounds, the head's hidden layers and input centre, and
 * how the run's head is chosen (evaluation.metric, evaluation.patience). The choice and the centre
 * apply to every row of a data set, references included, as they would in `fedtune simulate`.
 */
export type AccuracyRecipe = {
  readonly training: Omit<TrainingSettings, 'seed' | 'prior'>
  readonly server: ServerOptimizer
  readonly rounds: number
  readonly patience: number
  readonly metric: SelectionMetric
  readonly layers: readonly HeadLayer[]
  readonly inputCentre: 'validation' | 'none'
  /** The views of each image whose embeddings the head reads, averaged (task.backbone.views). */
  readonly views: readonly ImageView[]
}

export const RECIPE: AccuracyRecipe = {
  training: GRADIENT,
  server: FEDADAM,
  rounds: 200,
  patience: 30,
  metric: 'auc',
  // Chosen on validation: dropout on the inputs by `--tune --grid regularize`, its rate 0.1 (over
  // 0.2, 0.3 and 0.5) by `--tune --grid decay` (bench/accuracy-tune.ts).
  layers: [{ type: 'dropout', rate: 0.1 }],
  // Chosen on validation by `npm run bench:accuracy -- --tune` (bench/accuracy-tune.ts).
  inputCentre: 'validation',
  // Chosen on validation (bench/accuracy-tune.ts): four flips over one view by `--tune` (the
  // "views" grid), then all eight quarter turns and mirror images by `--tune --grid turns`.
  views: IMAGE_VIEWS,
}

/** A recipe's head in a report: its hidden layers, then softmax (or logistic regression without any). */
export function headText(recipe: Pick<AccuracyRecipe, 'layers'>): string {
  if (recipe.layers.length === 0) return 'logistic regression'
  const hidden = recipe.layers.map((l) =>
    l.type === 'dense' ? `dense ${l.units} ${l.activation}` : `dropout ${l.rate}`,
  )
  return `${hidden.join(', ')}, then softmax`
}

/** A federation of `recipe` over `hospitals` sites: what a task file with it would run. */
export function federationOf(
  recipe: Pick<AccuracyRecipe, 'training' | 'server' | 'rounds' | 'layers'>,
  labelPrior: 'local' | 'federation',
  labels: readonly string[],
  inputDim: number,
  hospitals: number,
  seed: number,
): FederationRecipe {
  return {
    spec: { layers: recipe.layers, labels },
    inputDim,
    training: recipe.training,
    labelPrior,
    server: recipe.server,
    rounds: recipe.rounds,
    seed,
    fixedPoint: fixedPointFor({ participants: hospitals, maxExamples: 100_000, clipNorm: 10 }),
    valFraction: 0.1,
  }
}
