import * as tf from '@tensorflow/tfjs'

/** A frozen feature extractor: images [n, s, s, 3] in [-1, 1] → embeddings [n, embeddingDim]. */
export type Backbone = {
  readonly model: tf.LayersModel
  readonly inputSize: number
  readonly embeddingDim: number
  dispose(): void
}

/**
 * Builds a backbone from tfjs layers-model artifacts. A model that ends in a feature map
 * [null, h, w, c] gets global average pooling appended, so the embedding is always [null, D].
 */
export async function backboneFromArtifacts(artifacts: tf.io.ModelArtifacts): Promise<Backbone> {
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts))
  const input = loaded.inputs[0]?.shape
  if (loaded.inputs.length !== 1 || input?.length !== 4 || (input[3] !== null && input[3] !== 3)) {
    loaded.dispose()
    throw new Error(`backbone: expected one image input [null, s, s, 3], got ${JSON.stringify(input)}`)
  }
  const [, height, width] = input
  if (height !== width && height !== null && width !== null) {
    loaded.dispose()
    throw new Error(`backbone: expected a square input, got ${height}x${width}`)
  }
  const inputSize = height ?? width ?? 224
  const output = loaded.outputs[0]
  let model = loaded
  if (loaded.outputs.length !== 1 || output === undefined) {
    loaded.dispose()
    throw new Error(`backbone: expected one output, got ${loaded.outputs.length}`)
  }
  if (output.shape.length === 4) {
    const pooled = tf.layers.globalAveragePooling2d({}).apply(output) as tf.SymbolicTensor
    model = tf.model({ inputs: loaded.inputs, outputs: pooled })
  } else if (output.shape.length !== 2) {
    loaded.dispose()
    throw new Error(
      `backbone: expected an output of [null, D] or [null, h, w, c], got ${JSON.stringify(output.shape)}`,
    )
  }
  const embeddingDim = model.outputs[0]?.shape[1]
  if (typeof embeddingDim !== 'number') {
    loaded.dispose()
    throw new Error(
      `backbone: the output's last dimension is unknown: ${JSON.stringify(model.outputs[0]?.shape)}`,
    )
  }
  return {
    model,
    inputSize,
    embeddingDim,
    // The pooled wrapper shares the loaded model's layers; disposing the loaded model frees the weights.
    dispose: () => loaded.dispose(),
  }
}
