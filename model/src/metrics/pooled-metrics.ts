import { CONFIDENCE_BINS, confidenceBinCentre, type EvaluationCounts, SCORE_BINS } from '@fedtune/protocol'
import type { ClinicalMetrics } from './clinical-metrics.ts'
import { fromConfusion } from './confusion-metrics.ts'

/** Fine confidence bins per bin of the usual 15-bin ECE. */
const FINE_PER_ECE_BIN = CONFIDENCE_BINS / 15

/**
 * The metrics of pooled counts (the participants' secure sum, or one site's own counts): exact for
 * everything the confusion matrix gives; AUC from the score histograms (a pair in one bin counts one
 * half, so it can differ from the exact AUC by the share of positive–negative pairs that share a
 * bin); ECE from the confidence histogram with each fine bin at its centre (within 1/120 of exact).
 * null when the counts hold no example.
 */
export function pooledMetrics(
  counts: EvaluationCounts,
  classes: number,
  options: { readonly ordinal?: boolean } = {},
): ClinicalMetrics | null {
  const examples = counts.confusion.reduce((a, b) => a + b, 0)
  if (examples === 0) return null
  return fromConfusion(counts.confusion, classes, {
    auc: binnedAuc(counts, classes),
    ece: binnedEce(counts, examples),
    binned: true,
    ordinal: options.ordinal ?? false,
  })
}

function binnedAuc(counts: EvaluationCounts, classes: number): number | null {
  const aucOf = (c: number): number | null => {
    const pos = counts.positives.slice(c * SCORE_BINS, (c + 1) * SCORE_BINS)
    const neg = counts.negatives.slice(c * SCORE_BINS, (c + 1) * SCORE_BINS)
    let negBelow = 0
    let wins = 0
    let p = 0
    let q = 0
    for (let b = 0; b < SCORE_BINS; b++) {
      const nb = neg[b] as number
      const pb = pos[b] as number
      wins += pb * (negBelow + nb / 2)
      negBelow += nb
      p += pb
      q += nb
    }
    return p > 0 && q > 0 ? wins / (p * q) : null
  }
  if (classes === 2) return aucOf(1)
  let sum = 0
  let present = 0
  for (let c = 0; c < classes; c++) {
    const auc = aucOf(c)
    if (auc === null) continue
    sum += auc
    present++
  }
  return present >= 2 ? sum / present : null
}

function binnedEce(counts: EvaluationCounts, examples: number): number {
  let ece = 0
  for (let start = 0; start < CONFIDENCE_BINS; start += FINE_PER_ECE_BIN) {
    let n = 0
    let right = 0
    let confidence = 0
    for (let b = start; b < start + FINE_PER_ECE_BIN; b++) {
      const k = counts.confidence[b] as number
      n += k
      right += counts.correct[b] as number
      confidence += k * confidenceBinCentre(b)
    }
    if (n > 0) ece += Math.abs(right - confidence) / examples
  }
  return ece
}
