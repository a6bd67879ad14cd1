import { type ImageView, ORIGINAL_ONLY } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import type { Backbone } from './backbone.ts'
import type { Pixels } from './pixels.ts'
import { preprocess } from './preprocess.ts'

/**
 * Images per forward pass: bounds activation memory; on wasm MobileNetV2-0.35 measured 27 ms per
 * image at 32 against 34 ms at 16.
 */
const CHUNK = 32

/**
 * Embeddings of `images`, row-major n·D: with several `views` (protocol/src/image-views.ts), the
 * mean of the backbone's embeddings of each view, summed in the views' order then divided by their
 * count. A view flips, turns or transposes the backbone's square input batch [n, s, s, 3] (after the
 * resize, which is symmetric).
 */
export function embed(
  backbone: Backbone,
  images: readonly Pixels[],
  views: readonly ImageView[] = ORIGINAL_ONLY,
): Float32Array {
  if (views.length === 0) throw new Error('embed: expected at least one view')
  const dim = backbone.embeddingDim
  const out = new Float32Array(images.length * dim)
  for (let start = 0; start < images.length; start += CHUNK) {
    const chunk = images.slice(start, start + CHUNK)
    const values = tf.tidy(() => {
      const input = preprocess(chunk, backbone.inputSize)
      let sum: tf.Tensor | null = null
      for (const view of views) {
        const y = backbone.model.predict(viewOf(input, view)) as tf.Tensor
        sum = sum === null ? y : tf.add(sum, y)
      }
      return (views.length === 1 ? (sum as tf.Tensor) : tf.div(sum as tf.Tensor, views.length)).dataSync()
    })
    if (values.length !== chunk.length * dim)
      throw new Error(`embed: expected ${chunk.length}x${dim} values from the backbone, got ${values.length}`)
    out.set(values, start * dim)
  }
  return out
}

/** One view of an input batch [n, height, width, 3]. */
export function viewOf(batch: tf.Tensor4D, view: ImageView): tf.Tensor4D {
  switch (view) {
    case 'original':
      return batch
    case 'horizontal-flip':
      return tf.reverse(batch, 2)
    case 'vertical-flip':
      return tf.reverse(batch, 1)
    case 'rotate-180':
      return tf.reverse(batch, [1, 2])
    case 'transpose':
      return tf.transpose(batch, [0, 2, 1, 3])
    // the transpose's flips, as compose-model.ts builds them
    case 'rotate-90':
      return viewOf(viewOf(batch, 'transpose'), 'horizontal-flip')
    case 'rotate-270':
      return viewOf(viewOf(batch, 'transpose'), 'vertical-flip')
    case 'transverse':
      return viewOf(viewOf(batch, 'transpose'), 'rotate-180')
  }
}
