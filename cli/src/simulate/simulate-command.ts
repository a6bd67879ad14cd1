import { parseArgs } from 'node:util'
import { localTraining, readTaskFile, type TaskFile, TaskFileError, taskPriors } from '@fedtune/coordinator'
import {
  type ClinicalMetrics,
  centreDataset,
  type Dataset,
  dominantWarning,
  labelCounts,
  meanEmbedding,
  viewsNote,
} from '@fedtune/model'
import {
  DataFolderError,
  DataLayoutError,
  embedLabelledSet,
  initBackend,
  loadTaskBackbone,
  progressBar,
} from '@fedtune/model/node'
import { escapeText, fixedPointFor, localDeltaProblem, paramCount, privacyStatement } from '@fedtune/protocol'
import { commandLine } from '../api-command.ts'
import { CommandError, type CommandIo, localCommand, processIo } from '../command-io.ts'
import { comparisonRows, comparisonTable, METRIC_NAMES } from './comparison.ts'
import type { HeadChoice, HeldOut } from './held-out.ts'
import { DATA_LAYOUT, hospitalFolders } from './hospital-folders.ts'
import { type FederationRecipe, trainingPart } from './simulate-federation.ts'
import { type SimulatedPrivacy, simulatedPrivacy, spentText } from './simulated-privacy.ts'
import { runSimulation, type Site } from './simulation.ts'
import type { ReferenceRecipe } from './train-reference.ts'

export const SIMULATE_USAGE = `Usage: fedtune simulate --task <task.json> --data <folder> [options]

Runs a task's whole federation in one process on your own split data, before deploying it: every
hospital's folder and the task's evaluation folders are embedded with the task's backbone in its
backbone.views (cached), then the federation runs with the real client's and coordinator's code
(the client's 10 % hold-out, local training, the fixed-point secure vector, the server step, the
best round on the validation set by evaluation.metric with evaluation.patience, the prior at
prediction by evaluation.prior).
Beside it, on the same embeddings: the centralized reference (all hospitals' training data pooled)
and the local-only reference (each hospital alone, mean over hospitals), each trained with Adam
0.001, batch 32, the task's loss, the epoch chosen on validation the same way. Prints the test
figures of each chosen head: ACC, balanced ACC, AUC (QWK with head.ordinal).

Every hospital takes part in every round (participantsPerRound is not simulated), with no dropouts.

A task with a privacy section is simulated under it, with the coordinator's own settings (z derived
from ε over training.rounds when the file leaves it out, the fixed point, the refusals): unit
"example", each hospital trains with DP-SGD and sends its update with weight 1; unit "participant",
each hospital clips its update to C and adds its share of the distributed discrete Gaussian before
the sum. The mean is uniform over hospitals, and the run stops before a round that would take ε past
the target (the coordinator's rule); the table and the JSON say the ε spent. minParticipants is the
task's: each hospital's share of the noise is for that many. Beside the non-private centralized
reference, unit "example" adds the centralized DP-SGD one: all hospitals' training data pooled and
trained by the task's own recipe with the same C, q, z, steps per round and rounds (so the same ε),
its noise divided by the pooled n. The noise comes from ChaCha20 seeded by head.seed, the hospital
and the round, so a simulation is reproducible; real participants draw theirs from the platform's
cryptographic source, and anyone who knows a seed could subtract seeded noise.

Layout of --data:
  ${DATA_LAYOUT}
  Subfolders that are the task's evaluation.validation or evaluation.test are not hospitals, so the
  folder "fedtune data split" writes (hospital-<i>/, validation/, test/) works as it is.

Options:
  --task <task.json>      the task file (required); it needs evaluation.validation or evaluation.test
  --data <folder>         the hospitals' folders (required)
  --cache <dir>           downloaded backbones and cached embeddings (default: .fedtune/cache)
  --reference-epochs <n>  most epochs of the centralized and local-only references (default: 30)
  --val-fraction <x>      each hospital's local hold-out, as the client's --val-fraction (default: 0.1)
  --json                  one JSON document with every figure, instead of the table
  -h, --help              this text

Example:
  fedtune data split --hospitals 5 --partition dirichlet --alpha 0.1 --out data
  fedtune simulate --task task.json --data data
`

type Options = {
  readonly task: string
  readonly data: string
  readonly cache: string
  readonly referenceEpochs: number
  readonly valFraction: number
  readonly json: boolean
}

/** `fedtune simulate`: a task's federation and its references on local folders, compared. */
export async function runSimulateCommand(
  argv: string[],
  io: CommandIo = processIo(),
  /** Progress bars; null draws none (a test). */
  bars: NodeJS.WriteStream | null = process.stderr,
): Promise<number> {
  return localCommand('simulate', SIMULATE_USAGE, argv, io, () => simulate(parseOptions(argv), io, bars))
}

function parseOptions(argv: string[]): Options {
  const { values } = commandLine(() =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        task: { type: 'string' },
        data: { type: 'string' },
        cache: { type: 'string' },
        'reference-epochs': { type: 'string' },
        'val-fraction': { type: 'string' },
        json: { type: 'boolean' },
      },
    }),
  )
  if (values.task === undefined) throw new CommandError('--task <task.json> is required', 2)
  if (values.data === undefined) throw new CommandError(`--data <folder> is required: ${DATA_LAYOUT}`, 2)
  const epochs = values['reference-epochs'] ?? '30'
  const referenceEpochs = /^\d+$/.test(epochs) ? Number(epochs) : Number.NaN
  if (!(referenceEpochs >= 1 && referenceEpochs <= 10_000))
    throw new CommandError(
      `--reference-epochs: expected a whole number from 1 to 10000, got ${JSON.stringify(epochs)}`,
      2,
    )
  const fraction = values['val-fraction'] ?? '0.1'
  const valFraction = fraction.trim() === '' ? Number.NaN : Number(fraction)
  if (!(valFraction >= 0 && valFraction < 1))
    throw new CommandError(
      `--val-fraction: expected a number from 0 up to (not including) 1, got ${JSON.stringify(fraction)}`,
      2,
    )
  return {
    task: values.task,
    data: values.data,
    cache: values.cache ?? '.fedtune/cache',
    referenceEpochs,
    valFraction,
    json: values.json === true,
  }
}

async function simulate(options: Options, io: CommandIo, stream: NodeJS.WriteStream | null): Promise<void> {
  const bars = stream ?? undefined
  const task = await readTask(options.task)
  const evaluation = task.evaluation
  if (evaluation === null)
    throw new CommandError(
      `${escapeText(options.task, 200)} has no evaluation section: simulate chooses each head on evaluation.validation and reports it on evaluation.test; add them (fedtune data split writes both)`,
    )
  const evaluationFolders = [evaluation.validation, evaluation.test].filter((f): f is string => f !== null)
  const folders = await hospitalFolders(options.data, task.head.labels, evaluationFolders)
  const log = (line: string) => io.stderr(`${line}\n`)

  const backend = await initBackend()
  log(`backend: ${backend.detail}`)
  const { backbone } = await loadTaskBackbone(task.backbone.source, task.backbone.sha256, options.cache)
  const inputDim = backbone.embeddingDim
  const warn = (message: string) => log(`warning: ${message}`)
  const note = viewsNote(task.backbone.views)
  if (note !== null) log(note)
  /** A hospital's folder may lack a label; an evaluation set that does is warned about (`warn`). */
  const embedded = async (what: string, dir: string, evaluationSet: boolean): Promise<Dataset> => {
    try {
      return await embedLabelledSet({
        backbone,
        what,
        dir,
        labels: task.head.labels,
        cacheDir: options.cache,
        views: task.backbone.views,
        bars,
        print: log,
        warn: evaluationSet ? warn : undefined,
      })
    } catch (error) {
      if (error instanceof DataFolderError || error instanceof DataLayoutError)
        throw new CommandError(`${what}: ${error.message}`)
      throw error
    }
  }
  let sites: Site[]
  let validation: Dataset | null
  let test: Dataset | null
  try {
    sites = []
    for (const f of folders) sites.push({ name: f.name, data: await embedded(f.name, f.path, false) })
    validation =
      evaluation.validation === null
        ? null
        : await embedded('the validation set', evaluation.validation, true)
    test = evaluation.test === null ? null : await embedded('the test set', evaluation.test, true)
  } finally {
    backbone.dispose()
  }
  // as the coordinator does: μ from the validation set, subtracted from every embedding before the head
  const centre =
    task.head.inputCentre === 'validation' && validation && validation.n > 0
      ? meanEmbedding(validation)
      : null
  if (centre !== null) {
    log("input centre: the validation set's mean embedding, subtracted before the head everywhere")
    sites = sites.map((s) => ({ ...s, data: centreDataset(s.data, centre) }))
    validation = validation && centreDataset(validation, centre)
    test = test && centreDataset(test, centre)
  }
  const empty = sites.filter((s) => s.data.n === 0)
  if (empty.length === sites.length)
    throw new CommandError(
      `--data: no images in the hospital folders of ${escapeText(options.data, 200)}; expected ${DATA_LAYOUT}`,
    )
  for (const s of empty) log(`${s.name}: no images; it takes no part`)

  const spec = { layers: task.head.layers, labels: task.head.labels }
  const priors = taskPriors(task, validation && labelCounts(validation.y, spec.labels.length))
  const heldOut: HeldOut = {
    validation,
    test,
    metric: evaluation.metric,
    patience: evaluation.patience,
    prior: priors.predictionPrior,
    ordinal: task.head.ordinal,
  }
  const aggregation =
    task.aggregation.mode === 'secure' ? task.aggregation : { clipNorm: 10, maxExamples: 100_000 }
  const working = sites.filter((s) => s.data.n > 0)
  const taskPrivacy = task.privacy
  const privacy: SimulatedPrivacy | null =
    taskPrivacy === null
      ? null
      : simulatedPrivacy({ ...task, privacy: taskPrivacy }, paramCount(spec, inputDim))
  // A hospital would refuse the task at the join (client-node): δ must be below 1/n of its training part.
  for (const s of working) {
    const problem =
      privacy && localDeltaProblem(privacy.settings, trainingPart(s.data, options.valFraction).n)
    if (problem) throw new CommandError(`${s.name} would refuse this task: ${problem}`)
  }
  const federation: FederationRecipe = {
    spec,
    inputDim,
    training: localTraining(task.training),
    labelPrior: priors.labelPrior,
    server: task.training.server,
    rounds: task.training.rounds,
    seed: task.head.seed,
    // Every hospital in every round: the fixed point for that many, so the sum cannot wrap.
    fixedPoint: fixedPointFor({
      participants: sites.length,
      maxExamples: aggregation.maxExamples,
      clipNorm: aggregation.clipNorm,
    }),
    valFraction: options.valFraction,
    privacy,
  }
  const reference: ReferenceRecipe = {
    spec,
    inputDim,
    loss: task.training.loss,
    classWeights: task.training.classWeights,
    epochs: options.referenceEpochs,
    seed: task.head.seed,
  }
  const privateReference = privacy?.settings.unit === 'example' ? task.training.rounds : 0
  const total = task.training.rounds + privateReference + options.referenceEpochs * (1 + working.length)
  const bar = bars ? progressBar('simulating', total, bars) : undefined
  const reported = new Map<string, number>()
  const report = runSimulation({
    federation,
    reference,
    sites: working,
    heldOut,
    onProgress: (p) => {
      const key = `${p.stage} ${p.site ?? ''}`
      bar?.tick(p.done - (reported.get(key) ?? 0), p.site ? `${p.stage} ${p.site}` : p.stage)
      reported.set(key, p.done)
    },
  })
  bar?.done()

  const rows = comparisonRows(report, evaluation.metric, working.length)
  const warnings = [
    ['federated', report.federated.test],
    ['centralized', report.centralized.test],
  ]
    .map(([name, m]) =>
      m ? dominantWarning(m as ClinicalMetrics, task.head.labels, `${name} (test)`) : null,
    )
    .filter((w): w is string => w !== null)
  if (options.json) {
    io.stdout(
      `${JSON.stringify(
        {
          task: task.name,
          hospitals: working.map((s) => ({ name: s.name, images: s.data.n })),
          validation: validation?.n ?? null,
          test: test?.n ?? null,
          metric: evaluation.metric,
          rows,
          privacy: privacy?.settings ?? null,
          federated: { ...choiceJson(report.federated), privacy: report.federated.privacy },
          centralized: choiceJson(report.centralized),
          centralizedPrivate: report.centralizedPrivate && {
            ...choiceJson(report.centralizedPrivate),
            privacy: report.centralizedPrivate.privacy,
          },
          localOnly: report.localOnly.map((l) => ({ hospital: l.site, ...choiceJson(l.choice) })),
          warnings,
        },
        null,
        2,
      )}\n`,
    )
    return
  }
  const sizes = working.map((s) => `${s.name} ${s.data.n}`).join(', ')
  io.stdout(
    `${task.name}: ${working.length} hospitals (${sizes}); validation ${validation?.n ?? 'none'}, test ${test?.n ?? 'none'} images\n`,
  )
  io.stdout(
    validation === null
      ? 'No evaluation.validation: every head is the last round (epoch).\n'
      : `Each head chosen on validation ${METRIC_NAMES[evaluation.metric]}${evaluation.patience === null ? '' : `, patience ${evaluation.patience}`}; figures are on test.\n`,
  )
  if (test === null) io.stdout('No evaluation.test: the test columns are empty.\n')
  io.stdout(`${privacyStatement(privacy?.settings ?? null).join('\n')}\n`)
  io.stdout('\n')
  io.stdout(
    comparisonTable(rows, {
      metric: evaluation.metric,
      ordinal: task.head.ordinal,
      validation: validation !== null,
    }),
  )
  const spent = [
    ['federated', report.federated.privacy],
    ['centralized DP-SGD', report.centralizedPrivate?.privacy ?? null],
  ] as const
  for (const [name, p] of spent) if (p) io.stdout(`${name}: ${spentText(p)}\n`)
  for (const w of warnings) io.stdout(`warning: ${w}\n`)
}

function choiceJson(choice: HeadChoice) {
  return {
    chosen: choice.chosen,
    ran: choice.ran,
    prior: choice.prior,
    validation: choice.validation,
    test: choice.test,
    testUniform: choice.testUniform,
  }
}

async function readTask(path: string): Promise<TaskFile> {
  try {
    return await readTaskFile(path)
  } catch (error) {
    if (error instanceof TaskFileError) throw new CommandError(error.message)
    throw error
  }
}
