import type { ClinicalMetrics } from '@fedtune/protocol'

export type { ClassMetrics, ClinicalMetrics } from '@fedtune/protocol'

/** Above this share of predictions for one class, a head is flagged. */
export const DOMINANT_SHARE = 0.95

/** The metrics a validation metric can name (the task's `evaluation.metric`). */
export const SELECTION_METRICS = ['auc', 'accuracy', 'balancedAccuracy', 'qwk'] as const
export type SelectionMetric = (typeof SELECTION_METRICS)[number]

/** The value of a selection metric (higher is better), or null where it is undefined. */
export function selectionValue(m: ClinicalMetrics, metric: SelectionMetric): number | null {
  switch (metric) {
    case 'auc':
      return m.auc
    case 'accuracy':
      return m.accuracy
    case 'balancedAccuracy':
      return m.balancedAccuracy
    case 'qwk':
      return m.ordinal?.qwk ?? null
  }
}

/** The one-class warning, in words, or null: `predicts "normal" for 399 of 400 images (99.8 %)`. */
export function dominantWarning(m: ClinicalMetrics, labels: readonly string[], where: string): string | null {
  if (!m.dominant) return null
  const count = m.perClass[m.dominant.label]?.predicted ?? 0
  return `${where}: the head predicts "${labels[m.dominant.label] ?? m.dominant.label}" for ${count} of ${m.examples} images (${(m.dominant.share * 100).toFixed(1)} %); its accuracy says little`
}
