/** One class's figures, one-vs-rest. null where the figure's denominator is zero. */
export type ClassMetrics = {
  /** Examples of this class. */
  readonly support: number
  /** Examples predicted as this class. */
  readonly predicted: number
  /** Of those predicted as this class, the share that are (positive predictive value). */
  readonly precision: number | null
  /** Of this class's examples, the share predicted as it (sensitivity). */
  readonly recall: number | null
  readonly f1: number | null
  /** Of the other classes' examples, the share not predicted as this class. */
  readonly specificity: number | null
}

/**
 * What a clinician reads of a head on an evaluation set. For a binary task, class 1's recall and
 * specificity are the test's sensitivity and specificity.
 */
export type ClinicalMetrics = {
  readonly examples: number
  readonly accuracy: number
  /** Mean recall over the classes that have examples. */
  readonly balancedAccuracy: number
  /** ROC AUC: class 1's score for two classes, else the macro one-vs-rest mean over the classes present; null with fewer than two present. */
  readonly auc: number | null
  /** Expected calibration error over 15 equal bins of the top probability (Guo et al., ICML 2017). */
  readonly ece: number
  /** Whether AUC and ECE come from histograms (pooled participants' counts) rather than the scores themselves. */
  readonly binned: boolean
  readonly perClass: readonly ClassMetrics[]
  /** confusion[true][predicted]. */
  readonly confusion: readonly (readonly number[])[]
  /** For ordinal labels (grades): quadratic weighted kappa (null when undefined) and the mean absolute grade error. */
  readonly ordinal: { readonly qwk: number | null; readonly mae: number } | null
  /** Set when one class is predicted for more than 95 % of the examples: that class and its share. */
  readonly dominant: { readonly label: number; readonly share: number } | null
}

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
