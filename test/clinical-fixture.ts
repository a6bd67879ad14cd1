import type { ClinicalMetrics } from '@fedtune/model'

/**
 * A set's metrics for a round record in a test about what reads records (charts, the console, the
 * log): only the figures those read are set; the per-class figures and the matrix are empty.
 */
export function clinical(accuracy: number, auc: number | null, examples = 16): ClinicalMetrics {
  return {
    examples,
    accuracy,
    balancedAccuracy: accuracy,
    auc,
    ece: 0,
    binned: false,
    perClass: [],
    confusion: [],
    ordinal: null,
    dominant: null,
  }
}
