import { type HeadSpec, paramShapes } from '@fedtune/protocol'
import type { Dataset } from './dataset.ts'

/**
 * The input centre: an embedding μ subtracted from every embedding before the head sees it (the
 * task file's `head.inputCentre`). Backbone embeddings share a large mean (MobileNet's ‖μ‖ ≈ 21 of
 * ‖x‖ ≈ 23), so centred inputs make per-example gradients small and a DP clip norm clips little.
 * The coordinator takes μ from its own validation set (public to it: no privacy spent), sends it
 * with the task, and every party centres its embeddings with `centreDataset` right after embedding.
 */

/** The mean embedding of `data` (summed in float64), one value per dimension; refuses an empty set. */
export function meanEmbedding(data: Dataset): Float32Array {
  if (data.n === 0) throw new Error('input centre: expected a set with at least one embedding, got none')
  const sum = new Float64Array(data.dim)
  for (let i = 0; i < data.n; i++) {
    const row = i * data.dim
    for (let j = 0; j < data.dim; j++) sum[j] = (sum[j] as number) + (data.x[row + j] as number)
  }
  return Float32Array.from(sum, (s) => s / data.n)
}

/** `data` with `centre` subtracted from every embedding (a new set); `data` itself when `centre` is null. */
export function centreDataset(data: Dataset, centre: ArrayLike<number> | null): Dataset {
  if (centre === null) return data
  if (centre.length !== data.dim)
    throw new Error(
      `input centre: expected ${data.dim} values (the embedding's dimension), got ${centre.length}`,
    )
  const x = new Float32Array(data.x.length)
  for (let i = 0; i < data.n; i++) {
    const row = i * data.dim
    for (let j = 0; j < data.dim; j++) x[row + j] = (data.x[row + j] as number) - (centre[j] as number)
  }
  return { ...data, x }
}

/**
 * A head's weights (flat, `paramShapes` order) that give on raw embeddings x what `weights` give on
 * x − μ: the first dense layer's bias b becomes b − Wᵀμ (dropout is the identity at inference, so a
 * dropout before it changes nothing). A new array; `weights` is left as it is.
 */
export function foldCentre(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  centre: ArrayLike<number>,
): Float32Array {
  if (centre.length !== inputDim)
    throw new Error(
      `input centre: expected ${inputDim} values (the embedding's dimension), got ${centre.length}`,
    )
  const [kernel] = paramShapes(spec, inputDim)
  const units = (kernel?.shape[1] ?? 0) as number
  const out = Float32Array.from(weights)
  const bias = inputDim * units
  for (let u = 0; u < units; u++) {
    // Wᵀμ in float64: the kernel is row-major [inputDim, units]
    let shift = 0
    for (let i = 0; i < inputDim; i++) shift += (weights[i * units + u] as number) * (centre[i] as number)
    out[bias + u] = (weights[bias + u] as number) - shift
  }
  return out
}
