import type { FederationOptions } from '../../coordinator/src/federation.ts'

/**
 * The local training the socket tests hand out: one plain SGD epoch. They drive scripted
 * participants, so what matters is that the settings are valid, not what they would learn.
 */
export const ONE_SGD_EPOCH: FederationOptions['training'] = {
  epochs: 1,
  batchSize: 8,
  optimizer: 'sgd',
  learningRate: 0.1,
  classWeights: 'none',
  loss: 'cross-entropy',
}
