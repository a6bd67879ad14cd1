import type { ClinicalMetrics, RoundEntry, RoundEvaluation } from '@fedtune/protocol'

/**
 * A run's kept rounds as the REST API answers them, made the timeline the run page draws: what the
 * page shows while it has no live feed (snapshot.ts reads them).
 */

/** What GET /api/runs/:id/rounds answers per round (the coordinator's RoundRecord, its head and evaluation). */
export type KeptRound = {
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  readonly startedAt: string
  readonly durationMs: number
  readonly selected: readonly string[]
  readonly dropped: readonly string[]
  readonly survivors?: readonly string[]
  readonly contributions: readonly unknown[]
  readonly validation?: ClinicalMetrics | null
  readonly test?: ClinicalMetrics | null
  readonly participants?: ClinicalMetrics | null
  readonly excluded?: readonly { readonly participant: string }[]
  /** An aggregated round's evaluation as the panel draws it; null for a failed round. */
  readonly evaluation?: RoundEvaluation | null
  /** A private task's ε spent through this round; absent or null without privacy. */
  readonly privacy?: { readonly epsilon: number } | null
}

/**
 * The timeline of a run's kept rounds, as the live feed would give it: the latest aggregated
 * round's entry carries its evaluation in full (the run page's panel), the others none (feed-state.ts
 * keeps only the newest, each being a confusion matrix).
 */
export function keptTimeline(task: string, rounds: readonly KeptRound[]): RoundEntry[] {
  const latest = [...rounds].reverse().find((r) => r.status === 'aggregated')
  return rounds.map((r) => entryOf(task, r, r === latest ? (r.evaluation ?? null) : null))
}

function entryOf(task: string, r: KeptRound, evaluation: RoundEvaluation | null): RoundEntry {
  return {
    task,
    round: r.round,
    status: r.status,
    reason: r.reason,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    selected: r.selected.length,
    survivors: r.survivors?.length ?? r.contributions.length,
    // the record names who dropped, not in which stage: only the live feed knows that
    dropouts: r.dropped.map((participant) => ({ participant, stage: 'update' as const })),
    stages: [],
    bytesIn: 0,
    bytesOut: 0,
    accuracy: (r.test ?? r.validation)?.accuracy ?? null,
    auc: (r.test ?? r.validation)?.auc ?? null,
    validation: figures(r.validation),
    test: figures(r.test),
    participants: figures(r.participants),
    majority: null,
    excluded: r.excluded?.map((e) => e.participant) ?? [],
    epsilon: r.privacy?.epsilon ?? null,
    evaluation,
  }
}

function figures(m: ClinicalMetrics | null | undefined): RoundEntry['validation'] {
  return m ? { accuracy: m.accuracy, auc: m.auc } : null
}
