import type { HeadSpec } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import type { Backbone } from './backbone.ts'
import { headParams } from './head-params.ts'

/**
 * The backbone and a trained head as ONE layers model: the backbone's own image input and layers,
 * then the head's dense (and dropout) layers and the softmax output, named `head_*` so they never
 * clash with the backbone's. Built on the backbone's graph (not nested in a new one), so model.json
 * is one flat functional model that `tf.loadLayersModel` reads back. Dropout is inert at predict
 * time, as in `predictHead`. The model shares the backbone's layers: dispose one of the two, once.
 */
export function composeModel(backbone: Backbone, spec: HeadSpec, weights: Float32Array): tf.LayersModel {
  const params = headParams(spec, backbone.embeddingDim, weights)
  try {
    const denses: tf.layers.Layer[] = []
    let h = backbone.model.outputs[0] as tf.SymbolicTensor
    let dense = 0
    let dropout = 0
    for (const layer of spec.layers) {
      if (layer.type === 'dropout') {
        h = tf.layers
          .dropout({ rate: layer.rate, name: `head_dropout${dropout++}` })
          .apply(h) as tf.SymbolicTensor
        continue
      }
      const d = tf.layers.dense({
        units: layer.units,
        activation: layer.activation,
        name: `head_dense${dense++}`,
      })
      h = d.apply(h) as tf.SymbolicTensor
      denses.push(d)
    }
    const output = tf.layers.dense({ units: spec.labels.length, activation: 'softmax', name: 'head_output' })
    h = output.apply(h) as tf.SymbolicTensor
    denses.push(output)
    // setWeights copies into the layers' own variables; the params are ours to dispose.
    for (const [i, d] of denses.entries())
      d.setWeights([params[2 * i] as tf.Tensor, params[2 * i + 1] as tf.Tensor])
    return tf.model({ inputs: backbone.model.inputs, outputs: h, name: 'fedtune_model' })
  } finally {
    tf.dispose(params)
  }
}
