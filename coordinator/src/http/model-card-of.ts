import {
  type DifferentialPrivacyCard,
  MODEL_CARD_FORMAT,
  type ModelCard,
  preprocessingFor,
} from '@fedtune/model'
import { type FixedPoint, l2Norm, ORIGINAL_ONLY, paramCount, sameViews } from '@fedtune/protocol'
import { privacySettingsFor } from '../privacy/privacy-settings-for.ts'
import { metricName } from '../rounds/best-round.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import type { Run } from '../store/index.ts'
import type { TaskFile } from '../tasks/task-file.ts'

/** The card of the model after `record`'s round of `run`: what the coordinator knows of it, nothing of a participant's own. */
export function modelCardOf(o: {
  readonly run: Run
  readonly task: TaskFile
  readonly record: RoundRecord
  /** Why this round's head (round-head.ts). */
  readonly chosen: 'asked' | 'best' | 'last'
  /** Every kept round of the run, to count the aggregated ones up to this one. */
  readonly records: readonly RoundRecord[]
  readonly inputSize: number
  readonly embeddingDim: number
  /** The run's input centre, folded into the exported head; null when its head saw raw embeddings. */
  readonly inputCentre: Float32Array | null
  readonly version: string
  readonly now: Date
}): ModelCard {
  const { run, task, record } = o
  const source = task.backbone.source
  const a = task.aggregation
  const dp = differentialPrivacyOf(o)
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
    chosen: chosenOf(o.chosen, record, o.records, task),
    prior: record.prior ?? null,
    // records kept before validation and test existed have neither
    validation: record.validation ?? null,
    test: record.test ?? null,
    privacy: {
      aggregation: a.mode,
      secureAggregation:
        a.mode === 'secure'
          ? {
              protocol: 'SecAgg+ (Bell et al., CCS 2020) over pairwise masks (Bonawitz et al., CCS 2017)',
              neighbours: a.neighbours,
              threshold: a.threshold,
              clipNorm: dp.fixedPoint?.clipNorm ?? a.clipNorm,
              maxExamples: dp.fixedPoint?.maxExamples ?? a.maxExamples,
              fixedPoint: { ...(dp.fixedPoint ?? a.fixedPoint) },
            }
          : null,
      differentialPrivacy: dp.card,
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
      // the original alone is what a card without views means: its card stays as it was
      ...(sameViews(task.backbone.views, ORIGINAL_ONLY) ? {} : { views: task.backbone.views }),
    },
    head: {
      layers: task.head.layers,
      inputCentre:
        o.inputCentre &&
        ({
          on: 'validation',
          norm: l2Norm(o.inputCentre),
          folded: true,
        } as const),
    },
    fedtuneVersion: o.version,
    createdAt: o.now.toISOString(),
  }
}

/**
 * A private task's guarantee for the head of `record`'s round (the ε its run had spent then) and its
 * secure sum's fixed point, as its run served them (privacySettingsFor gives the same again for
 * the same task and head); 'none' and the task file's fixed point without privacy.
 */
function differentialPrivacyOf(o: {
  readonly task: TaskFile
  readonly record: RoundRecord
  readonly embeddingDim: number
}): { readonly card: 'none' | DifferentialPrivacyCard; readonly fixedPoint: FixedPoint | null } {
  const { task, record } = o
  if (task.privacy === null) return { card: 'none', fixedPoint: null }
  const params = paramCount({ layers: task.head.layers, labels: task.head.labels }, o.embeddingDim)
  const served = privacySettingsFor({ ...task, privacy: task.privacy }, params)
  if (!served.ok)
    throw new Error(
      `the task's privacy cannot be served with this head: ${served.problems.map((p) => `${p.path}: expected ${p.expected}, got ${p.found}`).join('; ')}`,
    )
  if (!record.privacy)
    throw new Error(`round ${record.round} of a private task has no privacy account in its record`)
  const { settings, fixedPoint } = served.value
  return {
    card: {
      unit: settings.unit,
      epsilon: record.privacy.epsilon,
      delta: settings.delta,
      target: settings.epsilon,
      clipNorm: settings.clipNorm,
      noiseMultiplier: settings.noiseMultiplier,
    },
    fixedPoint,
  }
}

/** Why the card's round, in words an operator reads in the README. */
function chosenOf(
  chosen: 'asked' | 'best' | 'last',
  record: RoundRecord,
  records: readonly RoundRecord[],
  task: TaskFile,
): ModelCard['chosen'] {
  // a run's settings kept before `metric` existed have none
  const metric = task.evaluation?.metric ?? 'auc'
  const name = `validation ${metricName(metric)}`
  const best = records.at(-1)?.best ?? null
  const kept = records.at(-1)?.round ?? record.round
  if (chosen === 'best' && best !== null)
    return {
      by: 'best-validation',
      metric,
      why: `the best ${name} (${best.value.toFixed(3)}) of the ${kept} round${kept === 1 ? '' : 's'} kept`,
    }
  if (chosen === 'asked')
    return {
      by: 'asked',
      metric: null,
      why: `the round asked for${best === null ? '' : `; the best ${name} is round ${best.round}'s (${best.value.toFixed(3)})`}`,
    }
  return {
    by: 'last-round',
    metric: null,
    why: `the last aggregated round (${task.evaluation?.validation ? `no round has a ${name} yet` : 'the task has no validation set to choose on'})`,
  }
}
