/**
 * Area under the ROC curve. Two classes: the score of class 1. More: the macro average of
 * one-vs-rest AUCs over the classes present (as scikit-learn's `roc_auc_score(multi_class='ovr')`).
 * null when fewer than two classes are present, where AUC is undefined.
 */
export function rocAuc(probs: Float32Array, labels: Int32Array, classes: number): number | null {
  const n = labels.length
  if (probs.length !== n * classes)
    throw new Error(`rocAuc: expected ${n}x${classes} probabilities, got ${probs.length}`)
  const present = new Set(labels)
  if (present.size < 2) return null
  const column = (c: number) => Float64Array.from({ length: n }, (_, i) => probs[i * classes + c] as number)
  if (classes === 2) return binaryAuc(column(1), (i) => labels[i] === 1)
  let sum = 0
  for (const c of present) sum += binaryAuc(column(c), (i) => labels[i] === c)
  return sum / present.size
}

/**
 * Mann–Whitney U / (n_pos·n_neg) with average ranks for tied scores (Hanley & McNeil 1982), so a
 * tie between a positive and a negative counts one half.
 */
function binaryAuc(scores: Float64Array, positive: (i: number) => boolean): number {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  )
  let positives = 0
  let rankSum = 0
  for (let start = 0; start < n; ) {
    let end = start
    while (end + 1 < n && scores[order[end + 1] as number] === scores[order[start] as number]) end++
    const rank = (start + end) / 2 + 1
    for (let k = start; k <= end; k++)
      if (positive(order[k] as number)) {
        positives++
        rankSum += rank
      }
    start = end + 1
  }
  const negatives = n - positives
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}
