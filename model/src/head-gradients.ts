import type { HeadSpec } from '@fedtune/protocol'
import * as tf from '@tensorflow/tfjs'
import { matMulTA, matMulTB } from './mat-mul.ts'

/**
 * The head's forward and backward pass written out by hand: on the wasm backend `model.fit`
 * (autodiff + layers bookkeeping) is about 4x slower for a head this small.
 *
 * Network: [dense(+relu) | dropout]* → dense → softmax. Loss: Σ_i w_i·(−log p_i[y_i]), where the
 * caller folds class weights and the 1/batch mean into w_i, so the gradient wrt logits is
 * w_i·(p_i − onehot_i); with a logit offset b, p_i = softmax(z_i + b) and the same formula holds.
 */
export type HeadBatch = {
  readonly x: tf.Tensor2D
  readonly oneHot: tf.Tensor2D
  /** Per-example loss weight, already divided by the batch size. */
  readonly weight: tf.Tensor1D
  /**
   * Added to the logits inside the loss only (never at prediction), one value per class: the
   * logit-adjusted loss of Menon et al. (ICLR 2021, eq. 11) with τ·log π_y (see logit-adjustment.ts).
   */
  readonly logitOffset?: tf.Tensor1D
}

/** Inverted-dropout masks: each entry 0 with probability `rate`, else 1/(1−rate). */
export function dropoutMask(rows: number, cols: number, rate: number, random: () => number): Float32Array {
  const mask = new Float32Array(rows * cols)
  const keep = 1 / (1 - rate)
  for (let i = 0; i < mask.length; i++) mask[i] = random() < rate ? 0 : keep
  return mask
}

/** Logits [n, C] with dropout off. Call inside `tf.tidy`. */
export function headLogits(spec: HeadSpec, params: readonly tf.Tensor[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x
  let p = 0
  for (const layer of spec.layers) {
    if (layer.type !== 'dense') continue
    const z = tf.add(tf.matMul(h, params[p] as tf.Tensor2D), params[p + 1] as tf.Tensor1D) as tf.Tensor2D
    h = layer.activation === 'relu' ? tf.relu(z) : z
    p += 2
  }
  return tf.add(tf.matMul(h, params[p] as tf.Tensor2D), params[p + 1] as tf.Tensor1D) as tf.Tensor2D
}

/**
 * A dense layer's share of the backward pass: its input A and δ = ∂loss/∂(A·W + b), one row per
 * example. The kernel's gradient is Aᵀδ and the bias's Σ_rows δ; example i's own kernel gradient is
 * the outer product a_i ⊗ δ_i, which is what per-example clipping (per-example-clip.ts) reads.
 */
export type DenseDelta = {
  /** Index of the layer's kernel in `params`; its bias is the next one. */
  readonly param: number
  readonly input: tf.Tensor2D
  readonly delta: tf.Tensor2D
}

/**
 * Loss and gradients (same order and shapes as `params`) for one batch. `random` drives the
 * dropout masks; null turns dropout off. Call inside `tf.tidy`.
 */
export function headGradients(
  spec: HeadSpec,
  params: readonly tf.Tensor[],
  batch: HeadBatch,
  random: (() => number) | null,
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  const { loss, layers } = headBackward(spec, params, batch, random)
  const grads: tf.Tensor[] = new Array(params.length)
  for (const { param, input, delta } of layers) {
    grads[param] = matMulTA(input, delta)
    grads[param + 1] = tf.sum(delta, 0)
  }
  return { loss, grads }
}

/**
 * The forward pass and the backward pass down to each dense layer's δ, output layer first. Every
 * δ row is linear in that example's output δ w_i·(p_i − onehot_i): relu and dropout only mask it
 * entrywise. Call inside `tf.tidy`.
 */
export function headBackward(
  spec: HeadSpec,
  params: readonly tf.Tensor[],
  batch: HeadBatch,
  random: (() => number) | null,
): { loss: tf.Scalar; layers: DenseDelta[] } {
  type Step =
    | { kind: 'dense'; input: tf.Tensor2D; param: number; active: tf.Tensor2D | null }
    | { kind: 'dropout'; mask: tf.Tensor2D }
  const steps: Step[] = []
  const rows = batch.x.shape[0]
  let h = batch.x
  let p = 0
  for (const layer of spec.layers) {
    if (layer.type === 'dropout') {
      if (random === null || layer.rate === 0) continue
      const cols = h.shape[1]
      const mask = tf.tensor2d(dropoutMask(rows, cols, layer.rate, random), [rows, cols])
      steps.push({ kind: 'dropout', mask })
      h = tf.mul(h, mask)
      continue
    }
    const z = tf.add(tf.matMul(h, params[p] as tf.Tensor2D), params[p + 1] as tf.Tensor1D) as tf.Tensor2D
    const relu = layer.activation === 'relu'
    const active = relu ? (tf.cast(tf.greater(z, 0), 'float32') as tf.Tensor2D) : null
    steps.push({ kind: 'dense', input: h, param: p, active })
    h = relu ? tf.relu(z) : z
    p += 2
  }
  const out = p
  const logits = tf.add(
    tf.matMul(h, params[out] as tf.Tensor2D),
    params[out + 1] as tf.Tensor1D,
  ) as tf.Tensor2D
  const logProbs = tf.logSoftmax(batch.logitOffset ? tf.add(logits, batch.logitOffset) : logits)
  const weight = tf.expandDims(batch.weight, 1)
  const loss = tf.neg(tf.sum(tf.mul(tf.mul(logProbs, batch.oneHot), weight))) as tf.Scalar

  const layers: DenseDelta[] = []
  let delta = tf.mul(tf.sub(tf.exp(logProbs), batch.oneHot), weight) as tf.Tensor2D
  layers.push({ param: out, input: h, delta })
  let dh: tf.Tensor2D | null = steps.some((t) => t.kind === 'dense')
    ? matMulTB(delta, params[out] as tf.Tensor2D)
    : null
  for (let s = steps.length - 1; s >= 0; s--) {
    const step = steps[s] as Step
    if (dh === null) break
    if (step.kind === 'dropout') {
      dh = tf.mul(dh, step.mask) as tf.Tensor2D
      continue
    }
    delta = step.active ? (tf.mul(dh, step.active) as tf.Tensor2D) : dh
    layers.push({ param: step.param, input: step.input, delta })
    // The first layer's input is the embedding, which is frozen: no gradient needed.
    dh = steps.slice(0, s).some((t) => t.kind === 'dense')
      ? matMulTB(delta, params[step.param] as tf.Tensor2D)
      : null
  }
  return { loss, layers }
}
