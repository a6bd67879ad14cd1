import type { ClinicalMetrics } from '@fedtune/model'
import type { EvaluationSet, RoundEvaluation, SetFigures, SetSummary } from '@fedtune/protocol'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { TaskFile } from '../tasks/task-file.ts'

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
          // the same type (ClassMetrics), copied so the feed holds no reference into the record
          perClass: shown.m.perClass.map((c) => ({ ...c })),
        }
      : null,
    sets: measured.map(({ set, m }) => setSummary(set, m)),
    warnings: [...warnings],
  }
}

/**
 * A kept round's evaluation as the run page's panel shows it: an aggregated round's in full, its
 * matrix named by the labels of the task file the run started with (`settings`); null for a failed
 * round. The live feed and GET /api/runs/:id/rounds both give it, so the panel reads the same either way.
 */
export function keptRoundEvaluation(record: RoundRecord, settings: unknown): RoundEvaluation | null {
  if (record.status !== 'aggregated') return null
  return roundEvaluation(record, (settings as Partial<TaskFile> | undefined)?.head?.labels ?? [])
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
