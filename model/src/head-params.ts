import { type HeadSpec, paramShapes } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'

/** The flat weight vector as one tensor per kernel and bias, in `paramShapes` order. Caller owns them. */
export function headParams(spec: HeadSpec, inputDim: number, weights: Float32Array): tf.Tensor[] {
  const shapes = paramShapes(spec, inputDim)
  const total = shapes.reduce((sum, { shape }) => sum + shape.reduce((a, b) => a * b, 1), 0)
  if (weights.length !== total)
    throw new Error(
      `head: expected ${total} weights for this head on ${inputDim}-d inputs, got ${weights.length}`,
    )
  let offset = 0
  return shapes.map(({ shape }) => {
    const size = shape.reduce((a, b) => a * b, 1)
    const t = tf.tensor(weights.subarray(offset, offset + size), [...shape], 'float32')
    offset += size
    return t
  })
}

/** Reads parameter tensors back into one flat vector. */
export function flattenParams(params: readonly tf.Tensor[]): Float32Array {
  const total = params.reduce((sum, p) => sum + p.size, 0)
  const out = new Float32Array(total)
  let offset = 0
  for (const p of params) {
    out.set(p.dataSync() as Float32Array, offset)
    offset += p.size
  }
  return out
}
