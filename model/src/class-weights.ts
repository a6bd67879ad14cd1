import { labelCounts } from './label-counts.ts'

/**
 * 'balanced' class weights n/(C·n_c) (King & Zeng 2001; scikit-learn's "balanced"), with C the
 * number of classes present in this data, so the weights average 1 over the examples and a site
 * that holds a single class trains with weight 1 rather than a shrunken step. Absent classes get 0.
 */
export function balancedClassWeights(labels: Int32Array, classes: number): Float32Array {
  const counts = labelCounts(labels, classes)
  const present = counts.filter((c) => c > 0).length
  const weights = new Float32Array(classes)
  for (let c = 0; c < classes; c++) {
    const count = counts[c] as number
    weights[c] = count > 0 ? labels.length / (present * count) : 0
  }
  return weights
}
