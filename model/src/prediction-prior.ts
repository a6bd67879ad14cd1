import { type HeadSpec, paramCount } from '@fedtune/protocol'

/**
 * A logit-adjusted head predicts with softmax(z) as if every class were equally common (balanced
 * error). To predict for a population whose label mix is π instead, add log π to the logits
 * (Menon et al., ICLR 2021, §4): the Bayes rule for that mix. The output layer's bias is the last
 * C weights, so the prior folds into the head itself and every consumer of the weights (the
 * coordinator's evaluation, the exported model, `fedtune predict`) predicts with it.
 */
export function foldPrior(
  spec: HeadSpec,
  inputDim: number,
  weights: Float32Array,
  prior: readonly number[],
): Float32Array {
  const classes = spec.labels.length
  if (prior.length !== classes)
    throw new Error(`foldPrior: expected ${classes} class shares, got ${prior.length}`)
  const count = paramCount(spec, inputDim)
  if (weights.length !== count) throw new Error(`foldPrior: expected ${count} weights, got ${weights.length}`)
  const out = new Float32Array(weights)
  for (let c = 0; c < classes; c++) {
    const p = prior[c] as number
    if (!(p > 0 && p <= 1))
      throw new Error(`foldPrior: expected class shares in (0, 1], got ${p} for class ${c}`)
    out[count - classes + c] = (out[count - classes + c] as number) + Math.log(p)
  }
  return out
}

/**
 * The label mix a federation's label counts give, smoothed by one example per class
 * ((n_c + 1) / (n + C)) so that a class no participant holds keeps a finite log π. null without
 * counts (no round aggregated yet): the head then predicts uniformly.
 */
export function labelMix(counts: readonly number[] | null | undefined, classes: number): number[] | null {
  if (!counts) return null
  if (counts.length !== classes)
    throw new Error(`labelMix: expected ${classes} label counts, got ${counts.length}`)
  const total = counts.reduce((a, b) => a + b, 0)
  return counts.map((n) => (n + 1) / (total + classes))
}
