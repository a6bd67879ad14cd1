import { basename, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DataError } from './data-error.ts'

export type PartitionKind = 'iid' | 'dirichlet'

export type SplitOptions = {
  /** Absolute path of the MedMNIST .npz. */
  readonly dataset: string
  /** The data set's name: the file name without `.npz`; it picks the class names. */
  readonly name: string
  readonly out: string
  readonly hospitals: number
  readonly partition: PartitionKind
  /** Only for the Dirichlet partition. */
  readonly alpha: number | null
  readonly seed: number
  readonly perHospital: number | null
  readonly testLimit: number | null
  readonly valLimit: number | null
  readonly force: boolean
}

export const DEFAULT_DATASET = '../shared/datasets/pneumoniamnist.npz'

export const SPLIT_USAGE = `Usage: fedtune data split [options]

Turns a MedMNIST .npz into hospital folders for a federated demo:
  <out>/hospital-<i>/<class>/train-<index>.png   each hospital's share of the official train split
  <out>/validation/<class>/val-<index>.png       the official val split: the coordinator's validation
                                                 set (task file evaluation.validation), which picks the
                                                 best round
  <out>/test/<class>/test-<index>.png            the official test split (evaluation.test), reported only
  <out>/split.json                               what was written: dataset, sha256, seed, counts, files
<index> is the image's position in the official split, so every file can be traced back to the .npz.
A hospital with no example of a class has no folder for it. Hospitals never get val or test images.

Options:
  --dataset <path.npz>     MedMNIST file (default: ${DEFAULT_DATASET}, from the current directory)
  --out <dir>              output folder (default: .fedtune/data/<dataset name>)
  --hospitals <n>          number of hospitals, at least 1 (default: 3)
  --partition iid|dirichlet
                           iid: every hospital gets the same class mix (stratified);
                           dirichlet: label skew as in NIID-Bench, class shares ~ Dir(alpha),
                           every hospital keeps at least 10 images (default: iid)
  --alpha <x>              Dirichlet concentration > 0; small = strong skew (default: 0.5,
                           only with --partition dirichlet)
  --seed <n>               whole number 0..4294967295; the same seed gives the same split (default: 1)
  --per-hospital <n>       keep at most n training images per hospital, a seeded subset with
                           the hospital's class shares (default: no cap)
  --test-limit <n>         keep at most n test images, a seeded subset with the test split's
                           class shares (default: all)
  --val-limit <n>          keep at most n validation images, likewise (default: all)
  --force                  replace a previous split in <out>: removes only the files its
                           split.json lists, then writes the new one
  -h, --help               show this text

Example:
  fedtune data split --hospitals 5 --partition dirichlet --alpha 0.1 --seed 7
  fedtune data split --dataset ../shared/datasets/breastmnist.npz --out /tmp/breast --per-hospital 50
`

/** Parses `fedtune data split` arguments; `null` means help was asked for. Paths resolve from `cwd`. */
export function parseSplitOptions(argv: readonly string[], cwd: string): SplitOptions | null {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      allowPositionals: false,
      options: {
        dataset: { type: 'string' },
        out: { type: 'string' },
        hospitals: { type: 'string' },
        partition: { type: 'string' },
        alpha: { type: 'string' },
        seed: { type: 'string' },
        'per-hospital': { type: 'string' },
        'test-limit': { type: 'string' },
        'val-limit': { type: 'string' },
        'include-val': { type: 'boolean' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new DataError('bad-option', `fedtune data split: ${reason} (see fedtune data split --help)`)
  }
  if (values.help === true) return null
  if (values['include-val'] !== undefined)
    throw new DataError(
      'bad-option',
      "--include-val: no longer an option. The official val split is now always written to <out>/validation/, the coordinator's validation set (task file evaluation.validation), which chooses the best round; hospitals train on the train split only. Drop --include-val (see fedtune data split --help)",
    )
  const text = (key: string): string | undefined => {
    const value = values[key]
    return typeof value === 'string' ? value : undefined
  }

  const datasetArg = text('dataset') ?? DEFAULT_DATASET
  if (!datasetArg.endsWith('.npz'))
    throw new DataError(
      'bad-option',
      `--dataset: expected a path to a .npz file, got ${JSON.stringify(datasetArg)}`,
    )
  const dataset = resolve(cwd, datasetArg)
  const name = basename(dataset, '.npz')

  const partitionArg = text('partition') ?? 'iid'
  if (partitionArg !== 'iid' && partitionArg !== 'dirichlet')
    throw new DataError(
      'bad-option',
      `--partition: expected iid or dirichlet, got ${JSON.stringify(partitionArg)}`,
    )
  const alphaArg = text('alpha')
  if (alphaArg !== undefined && partitionArg !== 'dirichlet')
    throw new DataError(
      'bad-option',
      `--alpha: only applies to --partition dirichlet, but the partition is ${partitionArg}; add --partition dirichlet or drop --alpha`,
    )
  let alpha: number | null = null
  if (partitionArg === 'dirichlet') {
    alpha = parseNumber('--alpha', alphaArg ?? '0.5')
    if (!(alpha > 0) || !Number.isFinite(alpha))
      throw new DataError('bad-option', `--alpha: expected a number > 0, got ${JSON.stringify(alphaArg)}`)
  }

  return {
    dataset,
    name,
    out: resolve(cwd, text('out') ?? `.fedtune/data/${name}`),
    hospitals: parseWhole('--hospitals', text('hospitals') ?? '3', 1),
    partition: partitionArg,
    alpha,
    seed: parseWhole('--seed', text('seed') ?? '1', 0, MAX_SEED),
    perHospital: optional(text('per-hospital'), (v) => parseWhole('--per-hospital', v, 1)),
    testLimit: optional(text('test-limit'), (v) => parseWhole('--test-limit', v, 1)),
    valLimit: optional(text('val-limit'), (v) => parseWhole('--val-limit', v, 1)),
    force: values.force === true,
  }
}

/**
 * parseArgs reads `--alpha -1` as two options and calls it ambiguous; joining it as `--alpha=-1`
 * lets the value reach the check that explains what a valid value is.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = argv[i + 1]
    if (VALUE_OPTIONS.has(arg) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else out.push(arg)
  }
  return out
}

const VALUE_OPTIONS = new Set([
  '--hospitals',
  '--alpha',
  '--seed',
  '--per-hospital',
  '--test-limit',
  '--val-limit',
])

function optional<T>(value: string | undefined, parse: (value: string) => T): T | null {
  return value === undefined ? null : parse(value)
}

function parseNumber(option: string, value: string): number {
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isFinite(n))
    throw new DataError('bad-option', `${option}: expected a number, got ${JSON.stringify(value)}`)
  return n
}

/** Seeds feed a 32-bit generator; larger ones would silently collide with smaller ones. */
const MAX_SEED = 0xffffffff

function parseWhole(
  option: string,
  value: string,
  minimum: number,
  maximum = Number.MAX_SAFE_INTEGER,
): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < minimum || n > maximum) {
    const range = maximum === Number.MAX_SAFE_INTEGER ? `≥ ${minimum}` : `from ${minimum} to ${maximum}`
    throw new DataError(
      'bad-option',
      `${option}: expected a whole number ${range}, got ${JSON.stringify(value)}`,
    )
  }
  return n
}
