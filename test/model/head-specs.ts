import type { HeadSpec } from '@fedtune/protocol'

/** The small three-class heads the model's tests train: an MLP with dropout and a plain logistic head. */
export const threeClassMlp: HeadSpec = {
  layers: [
    { type: 'dense', units: 8, activation: 'relu' },
    { type: 'dropout', rate: 0.25 },
    { type: 'dense', units: 5, activation: 'linear' },
  ],
  labels: ['a', 'b', 'c'],
}
export const threeClassLogistic: HeadSpec = { layers: [], labels: ['a', 'b', 'c'] }
