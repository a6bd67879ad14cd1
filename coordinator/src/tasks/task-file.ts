import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { SelectionMetric } from '@fedtune/model'
import type {
  BrowserParticipation,
  FixedPoint,
  HeadSpec,
  ImageView,
  TrainingSettings,
} from '@fedtune/protocol'
import { escapeText } from '@fedtune/protocol'
import { FEDAVG, type ServerOptimizer } from '../rounds/server-optimizer.ts'
import { expectedText, problemsOf, TaskFileError } from './task-file-error.ts'
import { secureParameters, type TaskFileFields, taskFileSchema } from './task-schema.ts'

export { TaskFileError, type TaskFileProblem } from './task-file-error.ts'

/**
 * A federation is described by one JSON task file; this is its reader, the only place that reads
 * one. The fields, their limits and defaults are the schema's (tasks/task-schema.ts, published as
 * docs/task-file.schema.json); this adds what is derived from them: absolute paths (relative ones
 * are relative to the file), k, t and the fixed point of secure aggregation.
 */
export type TaskFile = {
  readonly name: string
  /** What the task is, for the volunteers' page; "" when the file has none. */
  readonly description: string
  readonly backbone: {
    /** An absolute folder path, or an http(s) URL of a TF.js layers model's model.json. */
    readonly source: string
    /** SHA-256 digest over the model's files (`fedtune backbone digest <folder>` prints it). */
    readonly sha256: string
    /** The views of each image whose embeddings are averaged (protocol/src/image-views.ts). */
    readonly views: readonly ImageView[]
  }
  readonly head: HeadSpec & {
    readonly seed: number
    /** The labels are grades in this order: rounds are also measured by QWK and grade MAE. */
    readonly ordinal: boolean
    /** What the head's inputs are centred on: the validation set's mean embedding, or nothing. */
    readonly inputCentre: 'validation' | 'none'
  }
  readonly training: {
    readonly rounds: number
    readonly localEpochs: number
    readonly batchSize: number
    readonly optimizer: TrainingSettings['optimizer']
    readonly learningRate: number
    readonly classWeights: TrainingSettings['classWeights']
    readonly loss: TrainingSettings['loss']
    /**
     * Which label mix the logit-adjusted loss uses: each participant's own, the federation's, the
     * coordinator's validation set's, or uniform.
     */
    readonly labelPrior: LabelPrior
    /** What the coordinator does with the round's mean update: FedAvg (sgd, rate 1) or FedAdam. */
    readonly server: ServerOptimizer
  }
  readonly participation: {
    readonly minParticipants: number
    readonly participantsPerRound: number
    readonly roundDeadlineSeconds: number
    readonly joinTimeoutSeconds: number
    /** With fewer than participantsPerRound online, how long to wait for more before a round. */
    readonly gatherSeconds: number
    /** Off unless the file turns it on; at most maxPerRound browsers train in one round. */
    readonly browsers: BrowserParticipation
  }
  /** The coordinator's own evaluation of every aggregated round's head; null without one. */
  readonly evaluation: Evaluation | null
  readonly enrolment: Enrolment
  readonly aggregation: Aggregation
  /** Differential privacy; null: the task gives no differential-privacy guarantee (and says so). */
  readonly privacy: TaskPrivacy | null
}

/** docs/task-file.md, Evaluation. At least one of validation and test. */
export type Evaluation = {
  /** Absolute folder of validation images (one subfolder per label): the best round is chosen on it. */
  readonly validation: string | null
  /** Absolute folder of held-out test images: measured every round, never used to choose. */
  readonly test: string | null
  /** The validation figure that picks the best round. */
  readonly metric: SelectionMetric
  /** Stop after this many rounds without a better validation figure; only with a validation set. */
  readonly patience: number | null
  /** The label mix a logit-adjusted head predicts with: the round's, the validation set's, or uniform. */
  readonly prior: 'federation' | 'validation' | 'uniform'
}

export type LabelPrior = 'local' | 'federation' | 'validation' | 'uniform'

/**
 * The task file's `privacy` (docs/privacy.md), defaults filled in. The noise multiplier, when the
 * file leaves it out, is derived where the head's size is known (privacy/privacy-settings-for.ts).
 */
export type TaskPrivacy = {
  readonly unit: 'example' | 'participant'
  readonly epsilon: number
  readonly delta: number
  readonly clipNorm: number
  /** z as written; null: the smallest that keeps the run within ε. */
  readonly noiseMultiplier: number | null
  /** q of DP-SGD's Poisson sampling (unit "example"; 1 for "participant", where it does not apply). */
  readonly samplingRate: number
}

/** Who may take part and how they enrol (issue 12, item 4); docs/task-file.md, Enrolment. */
export type Enrolment = {
  /** 'approval': a first hello waits for an operator; 'invite': a one-time code per hospital name. */
  readonly hospitals: 'approval' | 'invite'
  readonly volunteers: {
    /** 'open': anyone with the page's address, within the cap and rate; 'invite': an invite link. */
    readonly mode: 'open' | 'invite'
    /** The most volunteers the task enrols. */
    readonly maxParticipants: number
    /** The most volunteer enrolments from one network address per hour. */
    readonly perAddressPerHour: number
  }
}

/**
 * How updates reach the coordinator. 'secure' (the default, and the only mode of a real
 * federation): SecAgg+ masking, so the coordinator learns only the round's sum (docs/secure-aggregation.md).
 * 'plaintext-debug': updates in the clear, for debugging only; the coordinator warns every round and
 * participants must opt in.
 */
export type Aggregation =
  | { readonly mode: 'plaintext-debug' }
  | {
      readonly mode: 'secure'
      /** L2 bound on each participant's update Δ; larger ones are scaled down to it. */
      readonly clipNorm: number
      /** Most training examples one participant may weigh in with. */
      readonly maxExamples: number
      /** The dropout rate k and t are derived from (secaggParameters). */
      readonly expectedDropout: number
      /** k: neighbourhood size, the participant included. */
      readonly neighbours: number
      /** t: shares needed to rebuild a secret; more than half of k. */
      readonly threshold: number
      /** Deadline of each key-exchange and unmasking stage (training has the round deadline). */
      readonly stageDeadlineSeconds: number
      readonly fixedPoint: FixedPoint
    }

export async function readTaskFile(path: string): Promise<TaskFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new TaskFileError(`task file ${path}`, [
      { path: '', expected: 'a file it can read', found: escapeText((error as Error).message, 200) },
    ])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new TaskFileError(`task file ${path}`, [
      { path: '', expected: 'JSON', found: escapeText((error as Error).message, 200) },
    ])
  }
  return parseTaskFile(json, dirname(resolve(path)), path)
}

/**
 * The task in `value` (a task file's JSON), or a TaskFileError listing every problem in it. Relative
 * paths are resolved against `baseDir`; `where` starts the error's message.
 */
export function parseTaskFile(value: unknown, baseDir: string, where = 'task file'): TaskFile {
  const parsed = taskFileSchema.safeParse(value, { error: expectedText })
  if (!parsed.success) throw new TaskFileError(where, problemsOf(parsed.error.issues, value))
  return taskFrom(parsed.data, baseDir, where)
}

function taskFrom(fields: TaskFileFields, baseDir: string, where: string): TaskFile {
  const { backbone, head, training, participation, evaluation, enrolment, privacy } = fields
  // Under privacy the federation's label counts stay out of the sum: a public mix replaces theirs.
  const publicPrior = evaluation?.validation !== undefined ? 'validation' : 'uniform'
  const participantsPerRound = participation.participantsPerRound ?? participation.minParticipants
  return {
    name: fields.name,
    description: fields.description,
    backbone: {
      source: /^https?:\/\//.test(backbone.source) ? backbone.source : absolute(baseDir, backbone.source),
      sha256: backbone.sha256,
      views: backbone.views,
    },
    head: {
      layers: head.layers,
      labels: head.labels,
      seed: head.seed,
      ordinal: head.ordinal,
      // centred inputs clip little under DP; the validation set's mean is public to the coordinator
      inputCentre:
        head.inputCentre ?? (privacy && evaluation?.validation !== undefined ? 'validation' : 'none'),
    },
    training: {
      rounds: training.rounds,
      localEpochs: training.localEpochs,
      batchSize: training.batchSize,
      optimizer: training.optimizer,
      learningRate: training.learningRate,
      classWeights: training.classWeights ?? (training.loss === 'logit-adjusted' ? 'none' : 'balanced'),
      loss: training.loss,
      labelPrior: training.labelPrior ?? (privacy ? publicPrior : 'local'),
      server: training.server ?? FEDAVG,
    },
    participation: {
      minParticipants: participation.minParticipants,
      participantsPerRound,
      roundDeadlineSeconds: participation.roundDeadlineSeconds,
      joinTimeoutSeconds: participation.joinTimeoutSeconds,
      gatherSeconds: participation.gatherSeconds,
      browsers: participation.browsers,
    },
    evaluation:
      evaluation === undefined
        ? null
        : {
            validation: evaluation.validation === undefined ? null : absolute(baseDir, evaluation.validation),
            test: evaluation.test === undefined ? null : absolute(baseDir, evaluation.test),
            metric: evaluation.metric,
            patience: evaluation.patience ?? null,
            prior: evaluation.prior ?? (privacy ? publicPrior : 'federation'),
          },
    enrolment,
    aggregation: aggregationFrom(fields.aggregation, participantsPerRound, where),
    privacy:
      privacy === undefined
        ? null
        : {
            unit: privacy.unit,
            epsilon: privacy.epsilon,
            delta: privacy.delta,
            clipNorm: privacy.clipNorm,
            noiseMultiplier: privacy.noiseMultiplier ?? null,
            samplingRate: privacy.samplingRate ?? 1,
          },
  }
}

function aggregationFrom(
  a: TaskFileFields['aggregation'],
  participantsPerRound: number,
  where: string,
): Aggregation {
  if (a.mode === 'plaintext-debug') return { mode: a.mode }
  const derived = secureParameters({ participantsPerRound, ...a })
  // The schema's checks refused these already; reaching here would be a schema that lets one through.
  if (!derived.ok)
    throw new TaskFileError(
      where,
      derived.problems.map((p) => ({ path: p.path.join('.'), expected: p.expected, found: p.found })),
    )
  return {
    mode: a.mode,
    clipNorm: a.clipNorm,
    maxExamples: a.maxExamples,
    expectedDropout: a.expectedDropout,
    neighbours: derived.value.neighbours,
    threshold: derived.value.threshold,
    stageDeadlineSeconds: a.stageDeadlineSeconds,
    fixedPoint: derived.value.fixedPoint,
  }
}

function absolute(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path)
}
