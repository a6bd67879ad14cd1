import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parseTaskFile, TaskFileError } from '@fedtune/coordinator'
import { isBackboneUrl, readBackboneSource } from '@fedtune/model/node'
import { escapeText, IMAGE_VIEWS, TASK_NAME } from '@fedtune/protocol'
import { commandLine } from './api-command.ts'
import { CommandError, type CommandIo, localCommand, processIo } from './command-io.ts'
import { ORDINAL_DATASETS } from './data/medmnist.ts'
import { MANIFEST_FILE } from './data/split-manifest.ts'
import { positiveInteger } from './numbers.ts'
import { DATA_LAYOUT, hospitalFolders } from './simulate/hospital-folders.ts'
import { RECIPES, type RecipeName, recipeSections } from './task-recipe.ts'

export const TASK_INIT_USAGE = `Usage: fedtune task init --data <folder> --backbone <folder|url> [options]

Writes a task file for a consortium's data: the backbone's digest, the labels and the evaluation
folders read from disk, and a measured recipe for the rest. The file is checked as the coordinator
reads it before it is written. Try it on the data with "fedtune simulate", then run it with
"fedtune coordinator --task <file>" or send it with "fedtune task submit <file>".

  --data <folder>        ${DATA_LAYOUT}, with validation/ and test/ beside them
                         as "fedtune data split" writes them (both optional, validation/ advised:
                         the recipe chooses its round and centres its inputs on it)
  --backbone <folder|url>
                         a TensorFlow.js layers model: a folder (model.json and its weight
                         files) or the http(s) URL of its model.json, fetched once for its digest
  --out <file>           where to write the task file                       (default task.json)
  --name <name>          the task's name, [A-Za-z0-9._-], up to 64 (default: the data folder's)
  --labels <a,b,…>       the labels in this order (default: split.json's classes, as "fedtune
                         data split" wrote them, else the label folders found, sorted); for
                         grades, lowest first, with --ordinal
  --ordinal              the labels are grades in order (adds QWK and the grade MAE)
  --recipe <name>        federated-gradients (default): the README's recipe, measured on three
                         MedMNIST sets with nothing tuned per set and robust to hospitals that
                         hold one label each: FedAdam on full-batch gradients, 200 rounds, eight
                         views of each image, inputs centred on validation, the best round by
                         validation AUC. fedavg: the task file's defaults (local Adam epochs,
                         FedAvg, one view), 60 rounds; fine when every hospital holds every label
  --views <1|4|8>        views of each image the head reads, averaged: 1 (the image), 4 (its
                         flips), 8 (its flips and quarter turns). Default: the recipe's (8; 1 for
                         fedavg). Each view is one more backbone pass per image, once (cached)
  --rounds <n>           federated rounds (default: the recipe's, 200; 60 for fedavg)
  --force                replace --out if it exists
  -h, --help             this text

Paths in the file are absolute (a URL stays as given), so it reads the same from any folder on
this machine.
`

type Options = {
  readonly data: string
  readonly backbone: string
  readonly out: string
  readonly name: string | undefined
  readonly labels: readonly string[] | undefined
  readonly ordinal: boolean
  readonly recipe: RecipeName
  readonly views: 1 | 4 | 8 | undefined
  readonly rounds: number | undefined
  readonly force: boolean
}

/** `fedtune task init`: a checked task file for a data folder and a backbone, with a measured recipe. */
export function runTaskInit(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return localCommand('task init', TASK_INIT_USAGE, argv, io, () => init(parseOptions(argv), io))
}

function parseOptions(argv: string[]): Options {
  const { values } = commandLine(() =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        data: { type: 'string' },
        backbone: { type: 'string' },
        out: { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string' },
        ordinal: { type: 'boolean' },
        recipe: { type: 'string' },
        views: { type: 'string' },
        rounds: { type: 'string' },
        force: { type: 'boolean' },
      },
    }),
  )
  if (values.data === undefined) throw new CommandError(`--data <folder> is required: ${DATA_LAYOUT}`, 2)
  if (values.backbone === undefined)
    throw new CommandError(
      '--backbone <folder|url> is required: a TensorFlow.js layers model folder, or the URL of its model.json',
      2,
    )
  const recipe = values.recipe ?? 'federated-gradients'
  if (!(RECIPES as readonly string[]).includes(recipe))
    throw new CommandError(`--recipe: expected ${RECIPES.join(' or ')}, got ${JSON.stringify(recipe)}`, 2)
  const views = values.views
  if (views !== undefined && !['1', '4', '8'].includes(views))
    throw new CommandError(`--views: expected 1, 4 or 8, got ${JSON.stringify(views)}`, 2)
  const labels = values.labels?.split(',').map((l) => l.trim())
  if (
    labels !== undefined &&
    (labels.length < 2 || labels.some((l) => l === '') || new Set(labels).size < labels.length)
  )
    throw new CommandError(
      `--labels: expected at least two distinct labels separated by commas, got ${JSON.stringify(values.labels)}`,
      2,
    )
  if (values.name !== undefined && !TASK_NAME.test(values.name))
    throw new CommandError(`--name: expected [A-Za-z0-9._-], up to 64, got ${JSON.stringify(values.name)}`, 2)
  return {
    data: values.data,
    backbone: values.backbone,
    out: values.out ?? 'task.json',
    name: values.name,
    labels,
    ordinal: values.ordinal === true,
    recipe: recipe as RecipeName,
    views: views === undefined ? undefined : (Number(views) as 1 | 4 | 8),
    rounds: values.rounds === undefined ? undefined : positiveInteger('--rounds', values.rounds, 100_000),
    force: values.force === true,
  }
}

async function init(options: Options, io: CommandIo): Promise<void> {
  const data = resolve(options.data)
  const out = resolve(options.out)
  if (!options.force && (await exists(out)))
    throw new CommandError(
      `${escapeText(options.out, 200)} exists; --force replaces it, or choose another --out`,
    )
  const validation = (await isFolder(join(data, 'validation'))) ? join(data, 'validation') : null
  const test = (await isFolder(join(data, 'test'))) ? join(data, 'test') : null
  const evaluationFolders = [validation, test].filter((f): f is string => f !== null)
  // The label folders found anywhere: every hospital's, the validation's and the test's.
  const found = await labelFolders(data)
  const split = await splitManifest(data)
  const labels =
    options.labels ?? split?.classes ?? [...found].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const hospitals = await hospitalFolders(data, labels, evaluationFolders)
  const unknown = [...found].filter((l) => !labels.includes(l))
  if (unknown.length > 0)
    throw new CommandError(
      `the data holds label folders that --labels does not name: ${unknown.map((l) => JSON.stringify(escapeText(l, 40))).join(', ')}; expected every label folder among the labels`,
      2,
    )
  if (labels.length < 2)
    throw new CommandError(
      `expected at least two label folders in the hospital folders of ${escapeText(options.data, 200)}, found ${labels.length === 0 ? 'none' : JSON.stringify(escapeText(labels[0] ?? '', 40))}; expected ${DATA_LAYOUT}`,
    )
  // a folder is written as an absolute path; a URL as given, and fetched once here for its digest
  const source = isBackboneUrl(options.backbone) ? options.backbone : resolve(options.backbone)
  let digest: string
  try {
    digest = (await readBackboneSource(source)).digest
  } catch (error) {
    throw new CommandError(`--backbone: ${escapeText((error as Error).message, 300)}`)
  }

  const recipe = recipeSections(options.recipe)
  const views = options.views === undefined ? recipe.views : IMAGE_VIEWS.slice(0, options.views)
  const name = options.name ?? taskName(basename(data))
  const count = hospitals.length
  const head = {
    labels,
    ...(options.ordinal ? { ordinal: true } : {}),
    ...recipe.head,
    // the recipe centres on the validation mean; without a validation set there is nothing to centre on
    ...(validation === null && 'inputCentre' in recipe.head ? { inputCentre: 'none' } : {}),
  }
  const file = {
    name,
    description:
      `Written by fedtune task init: the ${options.recipe} recipe for ${count} hospital${count === 1 ? '' : 's'} (${hospitals.map((h) => h.name).join(', ')}).`.slice(
        0,
        2000,
      ),
    backbone: { source, sha256: digest, views },
    head,
    training: { ...recipe.training, ...(options.rounds === undefined ? {} : { rounds: options.rounds }) },
    participation: {
      // every hospital each round; a round survives one dropping out (secure aggregation recovers it)
      minParticipants: Math.min(count, Math.max(2, count - 1)),
      participantsPerRound: count,
    },
    ...(evaluationFolders.length === 0
      ? {}
      : {
          evaluation: {
            ...(validation === null ? {} : { validation, ...recipe.choice }),
            ...(test === null ? {} : { test }),
          },
        }),
  }
  try {
    parseTaskFile(file, dirname(out), escapeText(options.out, 200))
  } catch (error) {
    if (!(error instanceof TaskFileError)) throw error
    throw new CommandError(`the task file it would write does not parse: ${error.message}`)
  }
  await writeFile(out, `${JSON.stringify(file, null, 2)}\n`, { flag: options.force ? 'w' : 'wx' })

  const shown = escapeText(relative(process.cwd(), out) || out, 200)
  const lines = [
    `wrote ${shown}: task "${name}", ${labels.length} labels (${labels.map((l) => escapeText(l, 40)).join(', ')}), ${count} hospital${count === 1 ? '' : 's'}, the ${options.recipe} recipe, ${views.length} view${views.length === 1 ? '' : 's'}, ${file.training.rounds} rounds`,
    validation === null
      ? `warning: no validation/ folder in ${escapeText(options.data, 200)}: the run keeps its last round's head and does not centre its inputs (fedtune data split writes one; the recipe chose both on validation)`
      : `the best round by validation AUC is kept${recipe.choice.patience === undefined ? '' : `; the run stops after ${recipe.choice.patience} rounds without a better one`}`,
    ...(test === null ? ['no test/ folder: no held-out figures are reported'] : []),
    ...(split?.ordinal && !options.ordinal
      ? [
          'note: split.json says these labels are grades in order; --ordinal adds QWK and the grade MAE to every round (and lets evaluation.metric be "qwk")',
        ]
      : []),
    'no privacy section: the task gives no differential-privacy guarantee (docs/privacy.md adds one)',
    'next: try it in one process, then run it (or send it to a coordinator: fedtune task submit)',
    `  fedtune simulate --task ${shown} --data ${escapeText(options.data, 200)}`,
    `  fedtune coordinator --task ${shown}`,
  ]
  io.stdout(`${lines.join('\n')}\n`)
}

/** The label folders of every hospital folder and evaluation folder of `data`. */
async function labelFolders(data: string): Promise<Set<string>> {
  const found = new Set<string>()
  if (!(await isFolder(data))) return found
  const subfolders = (dir: string) =>
    readdir(dir, { withFileTypes: true }).then((entries) =>
      entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name),
    )
  const leaves: string[] = []
  for (const site of await subfolders(data)) {
    const labels = await subfolders(join(data, site))
    if (labels.length === 0) leaves.push(site)
    for (const label of labels) found.add(label)
  }
  // folders of images right under --data: one hospital's label folders, not a consortium's data
  if (found.size === 0 && leaves.length > 0)
    throw new CommandError(
      `--data: ${escapeText(data, 200)} holds folders without label folders (${leaves.map((l) => escapeText(l, 40)).join(', ')}), which look like one hospital's label folders; expected ${DATA_LAYOUT}, e.g. ${join(escapeText(data, 200), 'hospital-1', escapeText(leaves[0] ?? '<label>', 40))}/`,
      2,
    )
  return found
}

/**
 * What a `fedtune data split` folder's split.json says of its data set: the class names in the
 * data set's order (its grade order for RetinaMNIST), and whether they are grades; null without a
 * split.json, or if it does not hold a list of distinct names.
 */
async function splitManifest(data: string): Promise<{ classes: string[]; ordinal: boolean } | null> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(join(data, MANIFEST_FILE), 'utf8'))
  } catch {
    return null
  }
  const { classes, dataset } = (value ?? {}) as { classes?: unknown; dataset?: unknown }
  if (!Array.isArray(classes) || classes.length < 2 || classes.length > 1000) return null
  if (!classes.every((c): c is string => typeof c === 'string' && /^[a-z0-9][a-z0-9-]{0,63}$/.test(c)))
    return null
  if (new Set(classes).size !== classes.length) return null
  return { classes, ordinal: typeof dataset === 'string' && ORDINAL_DATASETS.has(dataset) }
}

/** The data folder's name as a task name: other characters become "-", at most 64. */
function taskName(folder: string): string {
  const name = folder
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
  return TASK_NAME.test(name) ? name : 'task'
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

async function isFolder(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  )
}
