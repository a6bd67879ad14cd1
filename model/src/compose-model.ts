import { type HeadSpec, type ImageView, ORIGINAL_ONLY } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import type { Backbone } from './backbone.ts'
import { headParams } from './head-params.ts'

/**
 * The backbone and a trained head as ONE layers model: the backbone's own image input and layers,
 * then the head's dense (and dropout) layers and the softmax output, named `head_*` so they never
 * clash with the backbone's. Built on the backbone's graph (not nested in a new one), so model.json
 * is one flat functional model that `tf.loadLayersModel` reads back. Dropout is inert at predict
 * time, as in `predictHead`. The model shares the backbone's layers: free one of the two, once, with
 * `disposeModel` (dispose-model.ts), which also frees layers called once per view.
 *
 * With several `views` (protocol/src/image-views.ts) the head reads the mean of the backbone's
 * embeddings of each view, as `embed` computes it: each flipped view is made of standard layers
 * (flipLayers) and runs through the backbone's own layers again (shared weights, one more inbound
 * node per layer), and `view_mean` averages the embeddings. With the original alone the model is
 * the one it always was, layer for layer.
 */
export function composeModel(
  backbone: Backbone,
  spec: HeadSpec,
  weights: Float32Array,
  views: readonly ImageView[] = ORIGINAL_ONLY,
): tf.LayersModel {
  if (views.length === 0) throw new Error('composeModel: expected at least one view')
  const params = headParams(spec, backbone.embeddingDim, weights)
  try {
    const denses: tf.layers.Layer[] = []
    let h = embeddingOf(backbone, views)
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

/**
 * The embedding the head reads, on the backbone's input: the backbone's output for the original
 * alone, else `view_mean` over the views' embeddings in the views' order.
 */
function embeddingOf(backbone: Backbone, views: readonly ImageView[]): tf.SymbolicTensor {
  const original = backbone.model.outputs[0] as tf.SymbolicTensor
  if (views.length === 1 && views[0] === 'original') return original
  const input = backbone.model.inputs[0] as tf.SymbolicTensor
  const [, height, width] = input.shape
  if (height !== backbone.inputSize || width !== backbone.inputSize)
    throw new Error(
      `composeModel: expected the backbone's input [n, ${backbone.inputSize}, ${backbone.inputSize}, 3], got [${input.shape.join(', ')}]`,
    )
  const flip = flipLayers(backbone.inputSize)
  const embeddings = views.map((view) =>
    view === 'original' ? original : replay(backbone.model, flip(input, view)),
  )
  if (embeddings.length === 1) return embeddings[0] as tf.SymbolicTensor
  return tf.layers.average({ name: 'view_mean' }).apply(embeddings) as tf.SymbolicTensor
}

/**
 * A view of the input batch [n, s, s, 3] from standard layers, exactly: reversing an axis is a
 * dense layer without bias whose kernel is the s×s anti-identity (each output one input times 1 plus
 * zeros, so no rounding), applied to the last axis after a Permute brings the flipped axis there and
 * undone by the same Permute (a swap). One frozen reversal layer serves every flip. A transpose is a
 * Permute of height and width; the quarter turns and the other diagonal are flips of it.
 */
function flipLayers(
  size: number,
): (input: tf.SymbolicTensor, view: Exclude<ImageView, 'original'>) => tf.SymbolicTensor {
  const reverse = tf.layers.dense({ units: size, useBias: false, trainable: false, name: 'view_reverse' })
  let built = false
  // keras Permute dims count from 1 after the batch axis: height 1, width 2, channels 3
  const swapWidth = [1, 3, 2]
  const swapHeight = [3, 2, 1]
  let permutes = 0
  const along = (x: tf.SymbolicTensor, dims: number[]) => {
    const there = tf.layers.permute({ dims, name: `view_permute${permutes++}` })
    const back = tf.layers.permute({ dims, name: `view_permute${permutes++}` })
    const reversed = reverse.apply(there.apply(x))
    // built by its first call; setWeights copies the kernel into the layer's variable
    if (!built) tf.tidy(() => reverse.setWeights([tf.reverse(tf.eye(size), 1)]))
    built = true
    return back.apply(reversed) as tf.SymbolicTensor
  }
  // the main diagonal's mirror image: height and width swapped, the input square
  const transpose = (x: tf.SymbolicTensor) =>
    tf.layers.permute({ dims: [2, 1, 3], name: `view_permute${permutes++}` }).apply(x) as tf.SymbolicTensor
  return (input, view) => {
    switch (view) {
      case 'horizontal-flip':
        return along(input, swapWidth)
      case 'vertical-flip':
        return along(input, swapHeight)
      case 'rotate-180':
        return along(along(input, swapHeight), swapWidth)
      case 'transpose':
        return transpose(input)
      case 'rotate-90':
        return along(transpose(input), swapWidth)
      case 'rotate-270':
        return along(transpose(input), swapHeight)
      case 'transverse':
        return along(along(transpose(input), swapHeight), swapWidth)
    }
  }
}

type GraphNode = tf.layers.Layer['inboundNodes'][number]

/**
 * The backbone's graph once more, on `input`: each of its layers, in the model's topological
 * order, called again on the new tensors that stand for its inputs (the layer's weights shared, a
 * new inbound node, which model.json records and `tf.loadLayersModel` rebuilds).
 */
function replay(model: tf.LayersModel, input: tf.SymbolicTensor): tf.SymbolicTensor {
  const from = model.inputs[0] as tf.SymbolicTensor
  const mapped = new Map<number, tf.SymbolicTensor>([[from.id, input]])
  for (const layer of model.layers) {
    const nodes: GraphNode[] = [...layer.inboundNodes]
    for (const node of nodes) {
      if (node.inboundLayers.length === 0) continue
      const inputs = node.inputTensors.map((t) => mapped.get(t.id))
      if (inputs.some((t) => t === undefined)) continue
      const ins = inputs as tf.SymbolicTensor[]
      const out = layer.apply(ins.length === 1 ? (ins[0] as tf.SymbolicTensor) : ins, node.callArgs)
      const outs = Array.isArray(out) ? out : [out]
      for (const [i, t] of node.outputTensors.entries()) mapped.set(t.id, outs[i] as tf.SymbolicTensor)
    }
  }
  const result = mapped.get((model.outputs[0] as tf.SymbolicTensor).id)
  if (result === undefined)
    throw new Error(
      `composeModel: the backbone's output ${model.outputs[0]?.name} is not reached from its input`,
    )
  return result
}
