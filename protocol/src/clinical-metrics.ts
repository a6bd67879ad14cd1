/** One class's figures, one-vs-rest; null where a figure's denominator is zero. */
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
 * specificity are the test's sensitivity and specificity. The model computes it (model/src/metrics/),
 * the coordinator keeps it in each round's record and the console shows it (console-feed.ts): a
 * type of theirs, here because protocol depends on none of them.
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
