import { labelCounts } from './label-counts.ts'

/**
 * Per-class logit offsets τ·log π_c from the label prior π of the training data, for the
 * logit-adjusted softmax cross-entropy (Menon et al., "Long-tail learning via logit adjustment",
 * ICLR 2021, eq. 11; the same loss as Balanced Softmax, Ren et al., NeurIPS 2020). Training on
 * softmax(z + τ·log π) and predicting with softmax(z) makes z estimate log p(x|y) up to a constant,
 * which is the same function at every site when sites differ only in their label mix (label shift):
 * local optima agree, so FedAvg no longer averages classifiers pulled towards each site's majority
 * (FedLC, Zhang et al., ICML 2022, calibrates local logits by the local label counts for this reason).
 * τ = 1 is the value for which the loss is consistent for the balanced error (Menon et al., Thm. 1).
 *
 * A class absent from the data has π_c = 0: its offset is log 0, kept finite (ABSENT) so that
 * 0·log p stays 0 in float32. Softmax then puts no mass on it and a single-class site has zero loss
 * and zero gradient: it cannot say where the boundary lies, so it no longer moves it.
 */
export function logitAdjustment(labels: Int32Array, classes: number, tau = 1): Float32Array {
  if (labels.length === 0) throw new Error('logitAdjustment: expected at least one label')
  const counts = labelCounts(labels, classes)
  return Float32Array.from(counts, (count) => (count > 0 ? tau * Math.log(count / labels.length) : ABSENT))
}

/** τ·log π_c for a given prior (e.g. the federation's label mix), one value per class. */
export function logitOffsets(prior: readonly number[], classes: number, tau = 1): Float32Array {
  if (prior.length !== classes)
    throw new Error(`logitOffsets: expected ${classes} class probabilities, got ${prior.length}`)
  return Float32Array.from(prior, (p) => (p > 0 ? tau * Math.log(p) : ABSENT))
}

/** Stands in for log 0: far below any logit, yet finite. */
const ABSENT = -1e9
