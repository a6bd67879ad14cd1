import type { ClinicalMetrics } from './clinical-metrics.ts'

/**
 * The figures a clinician reads first, in one line: accuracy, balanced accuracy, AUC, each class's
 * recall, and for two classes the test's sensitivity and specificity (the second label as the
 * positive finding); QWK and MAE for grades. A figure whose denominator is zero reads "-".
 */
export function metricsLine(m: ClinicalMetrics, labels: readonly string[]): string {
  const parts = [
    `ACC ${fixed(m.accuracy)}`,
    `balanced ACC ${fixed(m.balancedAccuracy)}`,
    `AUC ${fixed(m.auc)}`,
    `recall ${m.perClass.map((c, i) => `${labels[i] ?? i} ${fixed(c.recall)}`).join(', ')}`,
  ]
  const positive = binaryFigures(m)
  if (positive)
    parts.push(
      `sensitivity ${fixed(positive.sensitivity)}, specificity ${fixed(positive.specificity)} ("${labels[1] ?? 1}" positive)`,
    )
  if (m.ordinal) parts.push(`QWK ${fixed(m.ordinal.qwk)}, MAE ${fixed(m.ordinal.mae)}`)
  return parts.join('; ')
}

/** A binary task's sensitivity and specificity: class 1's recall and specificity; null for more classes. */
export function binaryFigures(
  m: ClinicalMetrics,
): { readonly sensitivity: number | null; readonly specificity: number | null } | null {
  const positive = m.perClass.length === 2 ? m.perClass[1] : undefined
  return positive ? { sensitivity: positive.recall, specificity: positive.specificity } : null
}

function fixed(v: number | null): string {
  return v === null ? '-' : v.toFixed(3)
}
