import * as tf from '@tensorflow/tfjs'
import type { Pixels } from './pixels.ts'
import { preprocess } from './preprocess.ts'

/** Images per forward pass, as `embed` uses: the same batches give the same numbers. */
const CHUNK = 32

/**
 * Class probabilities (row-major n·C) of a whole model (image in, softmax out) for `images`,
 * prepared as the coordinator prepares its held-out set (`preprocess`).
 */
export function classify(model: tf.LayersModel, images: readonly Pixels[], inputSize: number): Float32Array {
  const classes = model.outputs[0]?.shape[1]
  if (typeof classes !== 'number')
    throw new Error(
      `classify: expected a model with one output [null, classes], got ${JSON.stringify(model.outputs[0]?.shape)}`,
    )
  const out = new Float32Array(images.length * classes)
  for (let start = 0; start < images.length; start += CHUNK) {
    const chunk = images.slice(start, start + CHUNK)
    const values = tf.tidy(() => (model.predict(preprocess(chunk, inputSize)) as tf.Tensor).dataSync())
    if (values.length !== chunk.length * classes)
      throw new Error(`classify: expected ${chunk.length}x${classes} probabilities, got ${values.length}`)
    out.set(values, start * classes)
  }
  return out
}
