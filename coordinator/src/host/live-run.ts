import { mkdirSync } from 'node:fs'
import { centreDataset, initHead, labelCounts, viewsNote } from '@fedtune/model'
import { embedLabelledSet, loadTaskBackbone } from '@fedtune/model/node'
import { escapeText, type FixedPoint, l2Norm, paramCount, type TaskInfo } from '@fedtune/protocol'
import { nodeCrypto } from '@fedtune/protocol/node'
import { backbonePath } from '../http/backbone-path.ts'
import { storeAdmission } from '../participants/admission.ts'
import { type PrivateRun, privacySettingsFor } from '../privacy/privacy-settings-for.ts'
import { PRIVACY_BUDGET } from '../privacy/round-privacy.ts'
import { lostRoundRecord, readUnmaskingMark, writeUnmaskingMark } from '../privacy/unmasking-mark.ts'
import { EARLY_STOP } from '../rounds/best-round.ts'
import { type Evaluate, Federation } from '../rounds/federation.ts'
import { formatRecord, RoundLog } from '../rounds/round-log.ts'
import type { RoundObserver } from '../rounds/round-observer.ts'
import type { RoundRecord } from '../rounds/round-record.ts'
import { type Run, type Store, StoreError } from '../store/index.ts'
import { headFile } from '../store/run-folder.ts'
import { localTraining } from '../tasks/local-training.ts'
import { type TaskFile, TaskFileError } from '../tasks/task-file.ts'
import { taskPriors } from '../tasks/task-priors.ts'
import { evaluateOn } from './evaluation-set.ts'
import { runInputCentre } from './run-input-centre.ts'
import { commitRound, endRun, resumeFrom } from './run-rows.ts'
import type { OpenTask } from './task-directory.ts'

/** A task's run serving participants: its federation, log and backbone, and the folder of its heads. */
export type LiveRun = OpenTask & {
  readonly run: Run
  readonly outDir: string
  /** The accuracy of always answering the most frequent class of the test set (else the validation set); null without either. */
  readonly majority: number | null
  /** The secure sum's fixed point (a private task's own); null in plaintext-debug. */
  readonly fixedPoint: FixedPoint | null
}

export type PrepareRunOptions = {
  readonly store: Store
  readonly task: TaskFile
  readonly run: Run
  /** The head after every round, and a readable copy of the rounds. */
  readonly outDir: string
  /** Downloaded backbones and cached embeddings of the validation and test sets. */
  readonly cacheDir: string
  readonly print: (line: string) => void
  /** Progress bars (fetching, embedding); none when undefined. */
  readonly bars: NodeJS.WriteStream | undefined
  /** How far the preparation is, for operators (GET /api/tasks). */
  readonly onProgress?: (what: string, done: number, total: number) => void
  readonly observer?: RoundObserver | undefined
  /** The run ended (finished, failed or stopped; not when the coordinator closes): its state is written first. */
  readonly onEnded?: (state: 'finished' | 'failed' | 'stopped', reason: string) => void
}

/**
 * Makes a task's run ready to serve: fetches and checks its backbone, embeds its validation and test sets
 * in the task's views (`backbone.views`, as every participant does; centred on the run's input centre,
 * run-input-centre.ts, the mean of those view-averaged embeddings),
 * picks up its kept rounds (a restarted run carries on from its last one) and builds its federation,
 * which keeps every round in the store before it announces it.
 */
export async function prepareRun(o: PrepareRunOptions): Promise<LiveRun> {
  const { task, store, run, outDir, print } = o
  const { dir, backbone } = await loadTaskBackbone(task.backbone.source, task.backbone.sha256, o.cacheDir)
  print(
    `backbone ${task.backbone.source}: ${backbone.embeddingDim}-d embedding, input ${backbone.inputSize}px, digest ${backbone.digest.slice(0, 12)}…`,
  )
  const spec = { layers: task.head.layers, labels: task.head.labels }
  const params = paramCount(spec, backbone.embeddingDim)
  const warn = (message: string) => print(`warning: ${escapeText(message)}`)
  let private_: PrivateRun | null = null
  if (task.privacy !== null) {
    // the noise the budget needs and whether the ring holds it depend on the head's size: known now
    const found = privacySettingsFor({ ...task, privacy: task.privacy }, params)
    if (!found.ok) {
      backbone.dispose()
      throw new TaskFileError(`task ${task.name}`, found.problems)
    }
    private_ = found.value
  }
  let evaluate: Evaluate | undefined
  let majority: number | null = null
  let validationCounts: number[] | null = null
  let inputCentre: Float32Array | null = null
  try {
    if (task.evaluation) {
      const note = viewsNote(task.backbone.views)
      if (note !== null) print(note)
      const embedded = async (name: 'validation' | 'test', dir: string | null) =>
        dir === null
          ? null
          : await embedLabelledSet({
              backbone,
              what: `the ${name} set`,
              dir,
              labels: task.head.labels,
              cacheDir: o.cacheDir,
              views: task.backbone.views,
              bars: o.bars,
              onProgress: o.onProgress,
              print,
              warn,
            })
      const rawValidation = await embedded('validation', task.evaluation.validation)
      // μ once per run, kept in its folder: a resumed run goes on with the centre it started with
      inputCentre = await runInputCentre({
        dir: outDir,
        mode: task.head.inputCentre,
        validation: rawValidation,
        warn,
      })
      if (inputCentre !== null)
        print(
          `input centre: the validation set's mean embedding (norm ${l2Norm(inputCentre).toFixed(2)}), subtracted before the head here and by every participant`,
        )
      const validation = rawValidation && centreDataset(rawValidation, inputCentre)
      const rawTest = await embedded('test', task.evaluation.test)
      const test = rawTest && centreDataset(rawTest, inputCentre)
      const classes = task.head.labels.length
      validationCounts = validation && labelCounts(validation.y, classes)
      // the console's line a head must beat, on the set its chart shows (test, else validation)
      const shown = test ?? validation
      majority = shown && majorityAccuracy(shown.y, classes)
      const options = { ordinal: task.head.ordinal }
      const onValidation = validation && evaluateOn(spec, validation, options)
      const onTest = test && evaluateOn(spec, test, options)
      evaluate = (weights, prior) => ({
        validation: onValidation?.(weights, prior) ?? null,
        test: onTest?.(weights, prior) ?? null,
      })
    }
  } finally {
    backbone.dispose()
  }

  const info: TaskInfo = {
    taskId: task.name,
    name: task.name,
    description: task.description,
    rounds: task.training.rounds,
    backbone: {
      digest: backbone.digest,
      path: backbonePath(backbone.digest),
      files: backbone.files,
      inputSize: backbone.inputSize,
      embeddingDim: backbone.embeddingDim,
      views: task.backbone.views,
    },
    head: spec,
    ordinal: task.head.ordinal,
    paramCount: params,
    aggregation: task.aggregation.mode,
    browsers: task.participation.browsers,
    privacy: private_?.settings ?? null,
    inputCentre: inputCentre && Array.from(inputCentre),
  }
  const fixedPoint =
    task.aggregation.mode === 'secure' ? (private_?.fixedPoint ?? task.aggregation.fixedPoint) : null
  mkdirSync(outDir, { recursive: true })
  let kept = await store.rounds.list<RoundRecord>(run.id)
  // a private round the last coordinator asked to unmask, then lost (a crash): kept now, failed and accounted
  const lost =
    private_ &&
    lostRoundRecord(
      readUnmaskingMark(outDir),
      kept.map((r) => r.record),
      private_.budget,
      Date.now(),
    )
  if (lost) {
    await commitRound(store, run.id, lost, null)
    kept = await store.rounds.list<RoundRecord>(run.id)
    warn(`run ${run.id}: round ${lost.round} kept as failed: ${lost.reason}`)
  }
  const resumed = resumeFrom(outDir, kept, params)
  if (resumed) {
    if (task.training.server.optimizer === 'adam' && resumed.completed > 0 && !resumed.server)
      print(
        `note: run ${run.id} has no FedAdam state for its last head (it ran another server optimizer); Adam's moments start from zero`,
      )
    print(
      `continuing run ${run.id} of task ${task.name} after round ${resumed.round} (${resumed.completed} aggregated, ${resumed.failed} failed)`,
    )
  }
  const priors = taskPriors(task, validationCounts)
  const log = new RoundLog(
    outDir,
    (resumed?.records ?? []).filter((r) => r.round !== lost?.round),
    `task ${task.name}: the global head per round`,
  )
  if (lost) log.append(lost)
  const federation = new Federation({
    task: info,
    config: {
      rounds: task.training.rounds,
      minParticipants: task.participation.minParticipants,
      participantsPerRound: task.participation.participantsPerRound,
      maxBrowsersPerRound: task.participation.browsers.enabled ? task.participation.browsers.maxPerRound : 0,
      seed: task.head.seed,
      server: task.training.server,
      secure: task.aggregation.mode === 'secure',
      gatherMs: task.participation.gatherSeconds * 1000,
      privacy: private_?.budget ?? null,
    },
    secure:
      task.aggregation.mode === 'secure' && fixedPoint !== null
        ? {
            parameters: {
              neighbours: task.aggregation.neighbours,
              threshold: task.aggregation.threshold,
              stageDeadlineMs: task.aggregation.stageDeadlineSeconds * 1000,
              minSurvivors: task.participation.minParticipants,
            },
            fixedPoint,
            crypto: nodeCrypto,
          }
        : null,
    onExclude: (entry) =>
      void store.participants
        .exclude(
          task.name,
          entry.participant,
          'system',
          `round ${entry.round}: ${entry.reason} (complaint by ${entry.by})`,
        )
        .then(() =>
          store.audit.append({
            actor: 'system',
            action: 'participant.excluded',
            outcome: 'ok',
            task: task.name,
            run: run.id,
            target: entry.participant,
            detail: { round: entry.round, by: entry.by, reason: entry.reason },
          }),
        )
        .catch((error: Error) => warn(`recording the exclusion of ${entry.participant}: ${error.message}`)),
    initial: initHead(spec, backbone.embeddingDim, task.head.seed),
    resumed: resumed ?? undefined,
    training: localTraining(task.training),
    labelPrior: priors.labelPrior,
    roundDeadlineMs: task.participation.roundDeadlineSeconds * 1000,
    joinTimeoutMs: task.participation.joinTimeoutSeconds * 1000,
    recorder: {
      writeHead: (round, weights, server) => log.writeHead(round, weights, server ?? null),
      markUnmasking: (mark) => writeUnmaskingMark(outDir, mark),
      commit: async (record) => {
        await commitRound(
          store,
          run.id,
          record,
          record.status === 'aggregated' ? headFile(outDir, record.round) : null,
        )
        try {
          log.append(record)
        } catch (error) {
          warn(
            `round ${record.round} is kept in the database; its copy in ${outDir} failed: ${(error as Error).message}`,
          )
        }
      },
    },
    evaluate,
    selection: {
      metric: task.evaluation?.metric ?? 'auc',
      patience: task.evaluation?.patience ?? null,
    },
    predictionPrior: priors.predictionPrior,
    onRecord: (record) => print(escapeText(formatRecord(record, task.training.rounds), 2000)),
    onFinished: (f) => {
      print(
        `finished: task ${task.name}: ${f.reason}; ${f.completed} rounds aggregated, ${f.failed} failed; log in ${log.dir}`,
      )
      if (f.reason === 'coordinator closed') return
      const state =
        f.reason.startsWith('all ') || f.reason.startsWith(EARLY_STOP) || f.reason.startsWith(PRIVACY_BUDGET)
          ? 'finished'
          : f.reason.startsWith('only ')
            ? 'failed'
            : 'stopped'
      void endRun(store, run.id, state, f.reason).then(
        () => o.onEnded?.(state, f.reason),
        (error: Error) => {
          // an operator's stop has ended it already, and said so
          if (!(error instanceof StoreError && error.code === 'wrong-state'))
            warn(`recording the end of run ${run.id}: ${error.message}`)
        },
      )
    },
    // secure-round refusals quote what participants sent
    onWarning: warn,
    observer: o.observer,
  })
  return {
    info,
    federation,
    admission: storeAdmission({ store, task: task.name, enrolment: task.enrolment }),
    log,
    backbone: { dir, digest: backbone.digest, files: backbone.files },
    neighbours: task.aggregation.mode === 'secure' ? task.aggregation.neighbours : undefined,
    run,
    outDir,
    majority,
    fixedPoint,
  }
}

/** The accuracy of always answering the most frequent of `classes` labels in `labels`: the line a head must beat. */
export function majorityAccuracy(labels: Int32Array, classes: number): number | null {
  if (labels.length === 0) return null
  const counts = new Array<number>(classes).fill(0)
  for (const y of labels) counts[y] = (counts[y] ?? 0) + 1
  return Math.max(...counts) / labels.length
}
