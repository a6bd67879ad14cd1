import { type ClinicalMetrics, type SelectionMetric, selectionValue } from '@fedtune/model'
import { formatEpsilon } from '@fedtune/protocol'
import { textTable } from '../text-table.ts'
import type { HeadChoice } from './held-out.ts'
import type { SimulationReport } from './simulation.ts'

/** One row's test figures (of the head chosen on validation) and that choice; null where undefined. */
export type Figures = {
  readonly accuracy: number | null
  readonly balancedAccuracy: number | null
  readonly auc: number | null
  readonly qwk: number | null
  /** Test ACC and balanced ACC of the same head predicting without its prior (= the above without one). */
  readonly uniformAccuracy: number | null
  readonly uniformBalancedAccuracy: number | null
  /** The chosen head's validation figure by the task's metric. */
  readonly validation: number | null
  /** The chosen round (or epoch), and how many ran; a mean for local-only. */
  readonly chosen: number
  readonly ran: number
}

export type ComparisonRow = {
  readonly setting: string
  readonly figures: Figures
  /** What `chosen` counts: federated rounds, or a reference's epochs. */
  readonly steps: 'round' | 'epoch'
  /** ε spent by a private row (its rounds' accountant), null for the rest. */
  readonly epsilon: number | null
}

export function figuresOf(choice: HeadChoice, metric: SelectionMetric): Figures {
  const test: ClinicalMetrics | null = choice.test
  return {
    accuracy: test?.accuracy ?? null,
    balancedAccuracy: test?.balancedAccuracy ?? null,
    auc: test?.auc ?? null,
    qwk: test?.ordinal?.qwk ?? null,
    uniformAccuracy: (choice.testUniform ?? test)?.accuracy ?? null,
    uniformBalancedAccuracy: (choice.testUniform ?? test)?.balancedAccuracy ?? null,
    validation: choice.validation === null ? null : selectionValue(choice.validation, metric),
    chosen: choice.chosen,
    ran: choice.ran,
  }
}

/** The mean of each figure over rows, skipping undefined ones (null when all are). */
export function meanFigures(all: readonly Figures[]): Figures {
  const mean = (pick: (f: Figures) => number | null): number | null => {
    const values = all.map(pick).filter((v): v is number => v !== null && Number.isFinite(v))
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length
  }
  return {
    accuracy: mean((f) => f.accuracy),
    balancedAccuracy: mean((f) => f.balancedAccuracy),
    auc: mean((f) => f.auc),
    qwk: mean((f) => f.qwk),
    uniformAccuracy: mean((f) => f.uniformAccuracy),
    uniformBalancedAccuracy: mean((f) => f.uniformBalancedAccuracy),
    validation: mean((f) => f.validation),
    chosen: mean((f) => f.chosen) ?? 0,
    ran: mean((f) => f.ran) ?? 0,
  }
}

/**
 * The federation, the centralized reference (and under example-level privacy the centralized
 * DP-SGD one beside it) and the local-only mean, in that order.
 */
export function comparisonRows(
  report: SimulationReport,
  metric: SelectionMetric,
  hospitals: number,
): ComparisonRow[] {
  const plain = (setting: string, figures: Figures): ComparisonRow => ({
    setting,
    figures,
    steps: 'epoch',
    epsilon: null,
  })
  const federated = report.federated
  return [
    {
      setting: `federated, ${hospitals} hospitals`,
      figures: figuresOf(federated, metric),
      steps: 'round',
      epsilon: federated.privacy?.epsilon ?? null,
    },
    plain(
      `centralized (all hospitals pooled${federated.privacy ? ', no DP' : ''})`,
      figuresOf(report.centralized, metric),
    ),
    ...(report.centralizedPrivate
      ? [
          {
            setting: 'centralized DP-SGD (pooled; same C, q, z, steps)',
            figures: figuresOf(report.centralizedPrivate, metric),
            steps: 'round' as const,
            epsilon: report.centralizedPrivate.privacy?.epsilon ?? null,
          },
        ]
      : []),
    plain(
      `local-only (mean over ${report.localOnly.length} hospitals${federated.privacy ? ', no DP' : ''})`,
      meanFigures(report.localOnly.map((l) => figuresOf(l.choice, metric))),
    ),
  ]
}

const METRIC_NAMES: Record<SelectionMetric, string> = {
  auc: 'AUC',
  accuracy: 'ACC',
  balancedAccuracy: 'balanced ACC',
  qwk: 'QWK',
}

/** The comparison for a terminal: test figures of the validation-chosen head, the choice beside them. */
export function comparisonTable(
  rows: readonly ComparisonRow[],
  options: { readonly metric: SelectionMetric; readonly ordinal: boolean; readonly validation: boolean },
): string {
  const fixed = (v: number | null) => (v === null ? '–' : v.toFixed(3))
  const step = (f: Figures, unit: string) =>
    options.validation
      ? `${unit} ${Number.isInteger(f.chosen) ? f.chosen : f.chosen.toFixed(1)} of ${Number.isInteger(f.ran) ? f.ran : f.ran.toFixed(1)}`
      : `last of ${Number.isInteger(f.ran) ? f.ran : f.ran.toFixed(1)}`
  const header = [
    '',
    'test ACC',
    'balanced ACC',
    'AUC',
    ...(options.ordinal ? ['QWK'] : []),
    ...(options.validation ? [`val ${METRIC_NAMES[options.metric]}`] : []),
    'chosen',
    ...(rows.some((r) => r.epsilon !== null) ? ['ε spent'] : []),
  ]
  const private_ = rows.some((r) => r.epsilon !== null)
  const body = rows.map((row) => [
    row.setting,
    fixed(row.figures.accuracy),
    fixed(row.figures.balancedAccuracy),
    fixed(row.figures.auc),
    ...(options.ordinal ? [fixed(row.figures.qwk)] : []),
    ...(options.validation ? [fixed(row.figures.validation)] : []),
    step(row.figures, row.steps),
    ...(private_ ? [row.epsilon === null ? '–' : formatEpsilon(row.epsilon)] : []),
  ])
  return textTable(header, body)
}

export { METRIC_NAMES }
