import { type ClassMetrics, type ClinicalMetrics, DOMINANT_SHARE } from './clinical-metrics.ts'

/**
 * Everything that follows from a confusion matrix (row-major, row = true class), with the AUC and
 * ECE computed elsewhere: exactly from scores (evaluate-predictions.ts) or from histograms
 * (pooled-metrics.ts).
 */
export function fromConfusion(
  flat: readonly number[],
  classes: number,
  rest: {
    readonly auc: number | null
    readonly ece: number
    readonly binned: boolean
    readonly ordinal: boolean
  },
): ClinicalMetrics {
  if (flat.length !== classes * classes)
    throw new Error(`fromConfusion: expected ${classes}x${classes} counts, got ${flat.length}`)
  const confusion = Array.from({ length: classes }, (_, t) => flat.slice(t * classes, (t + 1) * classes))
  const support = confusion.map((row) => row.reduce((a, b) => a + b, 0))
  const predicted = Array.from({ length: classes }, (_, p) =>
    confusion.reduce((s, row) => s + (row[p] as number), 0),
  )
  const examples = support.reduce((a, b) => a + b, 0)
  if (examples === 0) throw new Error('fromConfusion: expected at least one example')
  const ratio = (a: number, b: number) => (b > 0 ? a / b : null)
  let correct = 0
  const perClass: ClassMetrics[] = confusion.map((row, c) => {
    const tp = row[c] as number
    correct += tp
    const s = support[c] as number
    const p = predicted[c] as number
    const precision = ratio(tp, p)
    const recall = ratio(tp, s)
    const f1 =
      precision !== null && recall !== null
        ? precision + recall > 0
          ? (2 * precision * recall) / (precision + recall)
          : 0
        : null
    const negatives = examples - s
    const falsePositives = p - tp
    return {
      support: s,
      predicted: p,
      precision,
      recall,
      f1,
      specificity: ratio(negatives - falsePositives, negatives),
    }
  })
  const recalls = perClass.flatMap((c) => (c.recall === null ? [] : [c.recall]))
  const top = predicted.reduce((best, n, c) => (n > (predicted[best] as number) ? c : best), 0)
  const share = (predicted[top] as number) / examples
  return {
    examples,
    accuracy: correct / examples,
    balancedAccuracy: recalls.reduce((a, b) => a + b, 0) / recalls.length,
    auc: rest.auc,
    ece: rest.ece,
    binned: rest.binned,
    perClass,
    confusion,
    ordinal: rest.ordinal ? ordinalAgreement(confusion, support, predicted, examples) : null,
    dominant: share > DOMINANT_SHARE ? { label: top, share } : null,
  }
}

/**
 * Quadratic weighted kappa (Cohen 1968; the Kaggle diabetic-retinopathy metric) and the mean
 * absolute error of the grade, with class index as grade. κ is null when the expected disagreement
 * is zero (every example and every prediction in one grade).
 */
function ordinalAgreement(
  confusion: readonly (readonly number[])[],
  support: readonly number[],
  predicted: readonly number[],
  examples: number,
): { qwk: number | null; mae: number } {
  const classes = confusion.length
  const scale = classes > 1 ? (classes - 1) ** 2 : 1
  let observed = 0
  let expected = 0
  let absolute = 0
  for (let i = 0; i < classes; i++)
    for (let j = 0; j < classes; j++) {
      const w = (i - j) ** 2 / scale
      const o = (confusion[i] as number[])[j] as number
      observed += w * o
      expected += (w * (support[i] as number) * (predicted[j] as number)) / examples
      absolute += Math.abs(i - j) * o
    }
  return { qwk: expected > 0 ? 1 - observed / expected : null, mae: absolute / examples }
}
