import { MODEL_CARD_FORMAT, type ModelCard, preprocessingFor } from '@fedtune/model'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Run } from '../store/index.ts'
import type { TaskFile } from '../tasks/task-file.ts'

/** The card of the model after `record`'s round of `run`: what the coordinator knows of it, nothing of a participant's own. */
export function modelCardOf(o: {
  readonly run: Run
  readonly task: TaskFile
  readonly record: RoundRecord
  /** Every kept round of the run, to count the aggregated ones up to this one. */
  readonly records: readonly RoundRecord[]
  readonly inputSize: number
  readonly embeddingDim: number
  readonly version: string
  readonly now: Date
}): ModelCard {
  const { run, task, record } = o
  const source = task.backbone.source
  const a = task.aggregation
  return {
    format: MODEL_CARD_FORMAT,
    task: { id: task.name, name: task.name, description: task.description },
    run: {
      id: run.id,
      round: record.round,
      roundsCompleted: o.records.filter((r) => r.status === 'aggregated' && r.round <= record.round).length,
      roundsPlanned: task.training.rounds,
    },
    labels: task.head.labels,
    output: 'softmax probabilities [n, labels], one column per label in the order of labels',
    preprocessing: preprocessingFor(o.inputSize),
    training: {
      examples: record.examples,
      contributors: record.survivors ? record.survivors.length : record.contributions.length,
      labelCounts: record.labelCounts ?? null,
    },
    heldOut: record.global,
    privacy: {
      aggregation: a.mode,
      secureAggregation:
        a.mode === 'secure'
          ? {
              protocol: 'SecAgg+ (Bell et al., CCS 2020) over pairwise masks (Bonawitz et al., CCS 2017)',
              neighbours: a.neighbours,
              threshold: a.threshold,
              clipNorm: a.clipNorm,
              maxExamples: a.maxExamples,
              fixedPoint: { ...a.fixedPoint },
            }
          : null,
      differentialPrivacy: 'none',
    },
    backbone: {
      name:
        source
          .replace(/\/model\.json$/, '')
          .replace(/\/+$/, '')
          .split(/[/\\]/)
          .at(-1) ?? source,
      source,
      sha256: task.backbone.sha256,
      embeddingDim: o.embeddingDim,
    },
    head: { layers: task.head.layers },
    fedtuneVersion: o.version,
    createdAt: o.now.toISOString(),
  }
}
