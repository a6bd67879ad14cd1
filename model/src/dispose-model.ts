import type * as tf from '@tensorflow/tfjs'

/**
 * Frees a layers model's weights, also where its layers are called more than once (a composed
 * model with several views runs the backbone's layers once per view): tfjs counts one reference
 * per call of a layer, and `LayersModel.dispose()` takes away one, so a layer called n times would
 * outlive it with its weights. Here each layer gives up every reference.
 */
export function disposeModel(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    while (layer.dispose().refCountAfterDispose > 0) {
      // one reference per call of the layer in the graph
    }
  }
}
