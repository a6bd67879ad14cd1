import type { ClinicalMetrics } from '@fedtune/model'
import type { EvaluationSet, RoundEvaluation, SetFigures, SetSummary } from '@fedtune/protocol'
import type { RoundRecord } from '../rounds/round-record.ts'

/** The sets a round is measured on, in the order the console lists them and picks its matrix from. */
const SETS: readonly EvaluationSet[] = ['validation', 'test', 'participants']

/** A set's headline figures, for the chart; null for a set the round was not measured on. */
export function setFigures(m: ClinicalMetrics | null | undefined): SetFigures | null {
  return m ? { accuracy: m.accuracy, auc: m.auc } : null
}

/** What the console calls a round's held-out figures: its test set's, else its validation set's. */
export function heldOutFigures(record: RoundRecord): SetFigures | null {
  return setFigures(record.test ?? record.validation)
}

/**
 * A round's evaluation in full, for the run page's panel: the confusion matrix and per-class
 * figures of its validation set (else test, else the participants' pooled counts), every set's
 * summary, and its warnings; null for a round measured on no set and with no warning. Label names
 * come from the task; a class past them is named by its index.
 */
export function roundEvaluation(record: RoundRecord, labels: readonly string[]): RoundEvaluation | null {
  const measured = SETS.flatMap((set) => {
    const m = record[set]
    return m ? [{ set, m }] : []
  })
  const warnings = record.warnings ?? []
  if (measured.length === 0 && warnings.length === 0) return null
  const shown = measured[0]
  const classes = Math.max(labels.length, shown?.m.confusion.length ?? 0)
  return {
    round: record.round,
    labels: Array.from({ length: classes }, (_, c) => labels[c] ?? `class ${c}`),
    matrix: shown
      ? {
          set: shown.set,
          confusion: shown.m.confusion.map((row) => [...row]),
          perClass: shown.m.perClass.map((c) => ({
            support: c.support,
            predicted: c.predicted,
            precision: c.precision,
            recall: c.recall,
            f1: c.f1,
            specificity: c.specificity,
          })),
        }
      : null,
    sets: measured.map(({ set, m }) => setSummary(set, m)),
    warnings: [...warnings],
  }
}

function setSummary(set: EvaluationSet, m: ClinicalMetrics): SetSummary {
  return {
    set,
    examples: m.examples,
    accuracy: m.accuracy,
    balancedAccuracy: m.balancedAccuracy,
    auc: m.auc,
    ece: m.ece,
    binned: m.binned,
    ordinal: m.ordinal && { qwk: m.ordinal.qwk, mae: m.ordinal.mae },
  }
}
