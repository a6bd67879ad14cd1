import { IMAGE_VIEWS } from '@fedtune/protocol'

/**
 * The recipes `fedtune task init` writes, as task-file sections.
 *
 * - `federated-gradients`: the README's measured recipe ("Accuracy"; docs/task-file.md, "Strong
 *   label skew"), the one bench:accuracy runs on every MedMNIST set with nothing tuned per set:
 *   each hospital sends one full-batch gradient of the logit-adjusted loss under the federation's
 *   label mix, the coordinator applies Adam (FedAdam 0.01), 200 rounds; embeddings averaged over
 *   the image's eight quarter turns and mirror images and centred on the validation mean, dropout
 *   0.1 on the head's inputs, the round with the best validation AUC kept (patience 30).
 *   test/cli/task-init.test.ts holds it equal to bench/recipe.ts's RECIPE.
 * - `fedavg`: the task file's own defaults (one view, local Adam epochs, FedAvg), 60 rounds: the
 *   README's FedAvg rows, fine when every hospital holds every label in similar shares.
 */
export const RECIPES = ['federated-gradients', 'fedavg'] as const
export type RecipeName = (typeof RECIPES)[number]

export type RecipeSections = {
  readonly views: readonly string[]
  readonly head: Record<string, unknown>
  readonly training: Record<string, unknown>
  /** evaluation's choice of the round, when there is a validation folder to choose on. */
  readonly choice: { readonly metric: 'auc'; readonly patience?: number }
}

export function recipeSections(name: RecipeName): RecipeSections {
  if (name === 'fedavg')
    return { views: ['original'], head: { layers: [] }, training: { rounds: 60 }, choice: { metric: 'auc' } }
  return {
    views: IMAGE_VIEWS,
    head: { layers: [{ type: 'dropout', rate: 0.1 }], inputCentre: 'validation' },
    training: {
      rounds: 200,
      localEpochs: 1,
      batchSize: 65536,
      optimizer: 'sgd',
      learningRate: 1,
      loss: 'logit-adjusted',
      labelPrior: 'federation',
      server: { optimizer: 'adam', learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 0.001 },
    },
    choice: { metric: 'auc', patience: 30 },
  }
}
