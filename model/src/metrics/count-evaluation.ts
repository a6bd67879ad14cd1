import {
  confidenceBin,
  type EvaluationCounts,
  emptyEvaluationCounts,
  SCORE_BINS,
  scoreBin,
} from '@fedtune/protocol'

/**
 * The counts a participant adds to the secure sum for a head's predictions `probs` (row-major n·C)
 * on examples labelled `labels`: its confusion matrix (arg-max, the first maximum winning ties, as
 * accuracy.ts), each class's score histograms and the confidence histogram
 * (protocol/src/evaluation-counts.ts has the layout).
 */
export function countEvaluation(probs: Float32Array, labels: Int32Array, classes: number): EvaluationCounts {
  const n = labels.length
  if (probs.length !== n * classes)
    throw new Error(`countEvaluation: expected ${n}x${classes} probabilities, got ${probs.length}`)
  const empty = emptyEvaluationCounts(classes)
  const confusion = [...empty.confusion]
  const positives = [...empty.positives]
  const negatives = [...empty.negatives]
  const confidence = [...empty.confidence]
  const correct = [...empty.correct]
  for (let i = 0; i < n; i++) {
    const y = labels[i] as number
    if (!(Number.isInteger(y) && y >= 0 && y < classes))
      throw new Error(`countEvaluation: expected labels from 0 to ${classes - 1}, got ${y} at ${i}`)
    let best = 0
    for (let c = 0; c < classes; c++) {
      const p = probs[i * classes + c] as number
      if (p > (probs[i * classes + best] as number)) best = c
      const histogram = c === y ? positives : negatives
      bump(histogram, c * SCORE_BINS + scoreBin(p))
    }
    bump(confusion, y * classes + best)
    const bin = confidenceBin(probs[i * classes + best] as number)
    bump(confidence, bin)
    if (best === y) bump(correct, bin)
  }
  return { confusion, positives, negatives, confidence, correct }
}

function bump(counts: number[], at: number): void {
  counts[at] = (counts[at] as number) + 1
}
