export {
  type ClassMetrics,
  type ClinicalMetrics,
  DOMINANT_SHARE,
  dominantWarning,
  SELECTION_METRICS,
  type SelectionMetric,
  selectionValue,
} from './clinical-metrics.ts'
export { countEvaluation } from './count-evaluation.ts'
export { evaluatePredictions, expectedCalibrationError } from './evaluate-predictions.ts'
export { binaryFigures, metricsLine } from './metrics-text.ts'
export { pooledMetrics } from './pooled-metrics.ts'
