import type { HeadSpec } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { headLogits } from './head-gradients.ts'
import { headParams } from './head-params.ts'

/** Rows per forward pass, to bound memory on large evaluation sets. */
const CHUNK = 1024

/** Softmax class probabilities, row-major n·C, dropout off. */
export function predictHead(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  x: Float32Array,
  n: number,
): Float32Array {
  if (x.length !== n * inputDim)
    throw new Error(`predictHead: expected ${n}x${inputDim} values, got ${x.length}`)
  const classes = spec.labels.length
  const out = new Float32Array(n * classes)
  const params = headParams(spec, inputDim, weights)
  try {
    for (let start = 0; start < n; start += CHUNK) {
      const rows = Math.min(CHUNK, n - start)
      const probs = tf.tidy(() => {
        const input = tf.tensor2d(x.subarray(start * inputDim, (start + rows) * inputDim), [rows, inputDim])
        return tf.softmax(headLogits(spec, params, input)).dataSync()
      })
      out.set(probs, start * classes)
    }
    return out
  } finally {
    tf.dispose(params)
  }
}
