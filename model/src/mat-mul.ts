import * as tf from '@tensorflow/tfjs'

/*
 * Aᵀ·B and A·Bᵀ with an explicit transpose. On the wasm backend (tfjs 4.22) matMul's
 * transposeA/transposeB flags take a slow path: measured 12-15 ms against ~1.3 ms for
 * transpose-then-multiply on a 32×1280 by 32×256 product, which is the head's dominant cost.
 */
export function matMulTA(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(tf.transpose(a), b)
}

export function matMulTB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, tf.transpose(b))
}
