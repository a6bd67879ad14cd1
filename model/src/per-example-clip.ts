import type { HeadSpec } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { type HeadBatch, headBackward } from './head-gradients.ts'
import { matMulTA } from './mat-mul.ts'

/** A batch for per-example clipping: every example's loss counts once (weight 1, no 1/batch). */
export type ExampleBatch = Omit<HeadBatch, 'weight'>

export type ClippedGradientSum = {
  /** Σ_i of the per-example losses −log p_i[y_i] (with the logit offset when given). */
  readonly loss: tf.Scalar
  /** Σ_i c_i·g_i with c_i = min(1, C/‖g_i‖): same order and shapes as `params`. */
  readonly grads: tf.Tensor[]
  /** ‖g_i‖, the L2 norm of example i's whole gradient (every kernel and bias), before clipping. */
  readonly norms: tf.Tensor1D
}

/**
 * The sum of per-example gradients each clipped to L2 norm `clipNorm`, the sum DP-SGD adds its noise
 * to (Abadi et al., CCS 2016, Algorithm 1), without materialising a gradient per example ("ghost
 * clipping": Goodfellow, arXiv:1510.01799, 2015; Lee & Kifer, PETS 2021). Example i's share of a dense
 * layer's kernel gradient is the outer product a_i ⊗ δ_i, whose squared Frobenius norm is
 * ‖a_i‖²·‖δ_i‖², and its bias gradient is δ_i; so ‖g_i‖² = Σ_layers (‖a_i‖² + 1)·‖δ_i‖², from the
 * one batched backward pass. Every δ_i is linear in example i's output δ (relu and dropout masks act
 * row by row), so scaling row i of each layer's δ by c_i gives exactly the clipped gradients, and
 * Aᵀ(c ⊙ Δ) their sum. Dropout masks, when `random` is given, are drawn as in `headGradients`; they
 * do not depend on the data, so each example's clipped gradient still has norm at most C.
 * Call inside `tf.tidy`.
 */
export function clippedGradientSum(
  spec: HeadSpec,
  params: readonly tf.Tensor[],
  batch: ExampleBatch,
  clipNorm: number,
  random: (() => number) | null,
): ClippedGradientSum {
  if (!(clipNorm > 0 && Number.isFinite(clipNorm)))
    throw new Error(`clippedGradientSum: expected a positive, finite clip norm, got ${clipNorm}`)
  const rows = batch.x.shape[0]
  const { loss, layers } = headBackward(spec, params, { ...batch, weight: tf.ones([rows]) }, random)
  let squared = tf.zeros([rows]) as tf.Tensor1D
  for (const { input, delta } of layers) {
    const inputSquared = tf.add(tf.sum(tf.square(input), 1), 1)
    squared = tf.add(squared, tf.mul(inputSquared, tf.sum(tf.square(delta), 1)))
  }
  const norms = tf.sqrt(squared) as tf.Tensor1D
  // C / max(‖g_i‖, C) is min(1, C/‖g_i‖), and 1 for a zero gradient.
  const scale = tf.expandDims(tf.div(clipNorm, tf.maximum(norms, clipNorm)), 1)
  const grads: tf.Tensor[] = new Array(params.length)
  for (const { param, input, delta } of layers) {
    const clipped = tf.mul(delta, scale) as tf.Tensor2D
    grads[param] = matMulTA(input, clipped)
    grads[param + 1] = tf.sum(clipped, 0)
  }
  return { loss, grads, norms }
}
