import type { ServerOptimizer } from '@fedtune/coordinator'
import type { TrainingSettings } from '@fedtune/protocol'

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
