import type { HeadSpec, TrainingSettings } from '@fedtune/protocol'

/** The small three-class heads the model's tests train, and how: an MLP with dropout and a plain logistic head. */
export const threeClassMlp: HeadSpec = {
  layers: [
    { type: 'dense', units: 8, activation: 'relu' },
    { type: 'dropout', rate: 0.25 },
    { type: 'dense', units: 5, activation: 'linear' },
  ],
  labels: ['a', 'b', 'c'],
}
export const threeClassLogistic: HeadSpec = { layers: [], labels: ['a', 'b', 'c'] }

/** Adam at rate 0.01 on the cross-entropy, batches of 16, no prior: one epoch, seed 3 (spread to change them). */
export const adamSettings: TrainingSettings = {
  epochs: 1,
  batchSize: 16,
  optimizer: 'adam',
  learningRate: 0.01,
  classWeights: 'none',
  loss: 'cross-entropy',
  prior: null,
  seed: 3,
}
