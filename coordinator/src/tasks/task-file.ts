import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import {
  type BrowserParticipation,
  describe,
  type FixedPoint,
  fixedPointFor,
  type HeadSpec,
  MAX_DESCRIPTION,
  parseHeadSpec,
  secaggParameters,
  type TrainingSettings,
} from '@fedtune/protocol'
import { FEDAVG, type ServerOptimizer } from '../rounds/server-optimizer.ts'

/**
 * A federation is described by one JSON task file; this is its parser, the only place that reads
 * one. Paths inside are relative to the file. See docs/task-file.md for the schema.
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
  }
  readonly head: HeadSpec & { readonly seed: number }
  readonly training: {
    readonly rounds: number
    readonly localEpochs: number
    readonly batchSize: number
    readonly optimizer: TrainingSettings['optimizer']
    readonly learningRate: number
    readonly classWeights: TrainingSettings['classWeights']
    readonly loss: TrainingSettings['loss']
    /** Which label mix the logit-adjusted loss uses: each participant's own, or the federation's. */
    readonly labelPrior: 'local' | 'federation'
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
  readonly evaluation: { readonly data: string } | null
  readonly aggregation: Aggregation
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

/** Shamir shares carry x = 1..255 in GF(2^8): the largest neighbourhood. */
const MAX_NEIGHBOURS = 255

export class TaskFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TaskFileError'
  }
}

export async function readTaskFile(path: string): Promise<TaskFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new TaskFileError(`task file ${path}: cannot read it (${(error as Error).message})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new TaskFileError(`task file ${path}: expected JSON, ${(error as Error).message}`)
  }
  return parseTaskFile(json, dirname(resolve(path)), path)
}

const TOP = [
  '$schema',
  'name',
  'description',
  'backbone',
  'head',
  'training',
  'participation',
  'evaluation',
  'aggregation',
] as const

export function parseTaskFile(value: unknown, baseDir: string, where = 'task file'): TaskFile {
  const fail = (field: string, expected: string, got: unknown) =>
    new TaskFileError(`${where}: ${field}: expected ${expected}, got ${describe(got)}`)
  const obj = (v: unknown, field: string, keys: readonly string[]) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(field, 'an object', v)
    for (const key of Object.keys(v))
      if (!keys.includes(key))
        throw new TaskFileError(
          `${where}: ${field}: unknown field "${key}"; expected only ${keys.join(', ')}`,
        )
    return v as Record<string, unknown>
  }
  const int = (
    o: Record<string, unknown>,
    key: string,
    field: string,
    min: number,
    max: number,
    dflt?: number,
  ) => {
    const v = o[key] ?? dflt
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw fail(`${field}.${key}`, `an integer from ${min} to ${max}`, o[key])
    return v
  }
  const num = (
    o: Record<string, unknown>,
    key: string,
    field: string,
    min: number,
    max: number,
    dflt?: number,
  ) => {
    const v = o[key] ?? dflt
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= min || v > max)
      throw fail(`${field}.${key}`, `a number above ${min} and at most ${max}`, o[key])
    return v
  }
  const choice = <T extends string>(
    o: Record<string, unknown>,
    key: string,
    field: string,
    allowed: readonly T[],
    dflt: T,
  ) => {
    const v = o[key] ?? dflt
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
      throw fail(`${field}.${key}`, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, o[key])
    return v as T
  }

  const top = obj(value, '(top level)', TOP)
  if (typeof top.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(top.name))
    throw fail('name', 'a name of letters, digits, ".", "_" or "-" (at most 64)', top.name)
  const description = top.description ?? ''
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION)
    throw fail('description', `a string of at most ${MAX_DESCRIPTION} characters`, top.description)

  const b = obj(top.backbone, 'backbone', ['source', 'sha256'])
  if (typeof b.source !== 'string' || b.source.length === 0)
    throw fail('backbone.source', 'a folder path or an http(s) URL of a model.json', b.source)
  if (typeof b.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(b.sha256))
    throw fail(
      'backbone.sha256',
      'the 64 hex digits that `fedtune backbone digest <folder>` prints',
      b.sha256,
    )
  const source = /^https?:\/\//.test(b.source) ? b.source : absolute(baseDir, b.source)

  const h = obj(top.head, 'head', ['layers', 'labels', 'seed'])
  let head: HeadSpec
  try {
    head = parseHeadSpec({ layers: h.layers ?? [], labels: h.labels }, 'head')
  } catch (error) {
    throw new TaskFileError(`${where}: ${(error as Error).message}`)
  }
  const seed = int(h, 'seed', 'head', 0, 2 ** 32 - 1, 0)

  const t = obj(top.training, 'training', [
    'rounds',
    'localEpochs',
    'batchSize',
    'optimizer',
    'learningRate',
    'classWeights',
    'loss',
    'labelPrior',
    'server',
  ])
  const p = obj(top.participation ?? {}, 'participation', [
    'minParticipants',
    'participantsPerRound',
    'roundDeadlineSeconds',
    'joinTimeoutSeconds',
    'gatherSeconds',
    'browsers',
  ])
  const minParticipants = int(p, 'minParticipants', 'participation', 1, 100_000, 2)
  const participantsPerRound = int(p, 'participantsPerRound', 'participation', 1, 100_000, minParticipants)
  if (participantsPerRound < minParticipants)
    throw new TaskFileError(
      `${where}: participation.participantsPerRound (${participantsPerRound}) must be at least minParticipants (${minParticipants})`,
    )
  const w = obj(p.browsers ?? {}, 'participation.browsers', ['enabled', 'maxPerRound'])
  const enabled = w.enabled ?? false
  if (typeof enabled !== 'boolean') throw fail('participation.browsers.enabled', 'true or false', w.enabled)
  const maxPerRound = int(w, 'maxPerRound', 'participation.browsers', 1, 100_000, 1)
  // More browser places than places is a misreading of the field, worth naming.
  if (maxPerRound > participantsPerRound)
    throw new TaskFileError(
      `${where}: participation.browsers.maxPerRound (${maxPerRound}) must be at most participantsPerRound (${participantsPerRound})`,
    )

  // The logit-adjusted loss already takes each site's label mix out of the logits; balanced class
  // weights on top correct twice (val AUC at Dirichlet α=0.1, 30 rounds of 2 epochs: 0.90 against 0.93).
  const loss = choice(t, 'loss', 'training', ['logit-adjusted', 'cross-entropy'] as const, 'logit-adjusted')
  const classWeights = choice(
    t,
    'classWeights',
    'training',
    ['balanced', 'none'] as const,
    loss === 'logit-adjusted' ? 'none' : 'balanced',
  )

  const labelPrior = choice(t, 'labelPrior', 'training', ['local', 'federation'] as const, 'local')
  if (labelPrior === 'federation' && loss !== 'logit-adjusted')
    throw new TaskFileError(
      `${where}: training.labelPrior "federation" is the prior of the logit-adjusted loss; training.loss is "${loss}"`,
    )
  let server: ServerOptimizer = FEDAVG
  if (t.server !== undefined) {
    const all = obj(t.server, 'training.server', ['optimizer', 'learningRate', 'beta1', 'beta2', 'epsilon'])
    const kind = choice(all, 'optimizer', 'training.server', ['sgd', 'adam'] as const, 'sgd')
    if (kind === 'sgd') {
      // Adam's fields on an 'sgd' server are a mistake worth naming, not something to ignore.
      const o = obj(t.server, 'training.server (optimizer "sgd")', ['optimizer', 'learningRate'])
      server = { optimizer: 'sgd', learningRate: num(o, 'learningRate', 'training.server', 0, 10, 1) }
    } else {
      server = {
        optimizer: 'adam',
        learningRate: num(all, 'learningRate', 'training.server', 0, 10, 0.01),
        beta1: num(all, 'beta1', 'training.server', 0, 0.999999, 0.9),
        beta2: num(all, 'beta2', 'training.server', 0, 0.999999, 0.99),
        epsilon: num(all, 'epsilon', 'training.server', 0, 1, 1e-3),
      }
    }
  }

  let evaluation: TaskFile['evaluation'] = null
  if (top.evaluation !== undefined) {
    const e = obj(top.evaluation, 'evaluation', ['data'])
    if (typeof e.data !== 'string' || e.data.length === 0)
      throw fail('evaluation.data', 'a folder of held-out images, one subfolder per label', e.data)
    evaluation = { data: absolute(baseDir, e.data) }
  }

  const aggregation = parseAggregation(
    obj(top.aggregation ?? {}, 'aggregation', [
      'mode',
      'clipNorm',
      'maxExamples',
      'expectedDropout',
      'neighbours',
      'threshold',
      'stageDeadlineSeconds',
    ]),
  )

  return {
    name: top.name,
    description,
    backbone: { source, sha256: b.sha256 },
    head: { ...head, seed },
    training: {
      rounds: int(t, 'rounds', 'training', 1, 100_000),
      localEpochs: int(t, 'localEpochs', 'training', 1, 1000, 1),
      batchSize: int(t, 'batchSize', 'training', 1, 65536, 32),
      optimizer: choice(t, 'optimizer', 'training', ['adam', 'sgd'] as const, 'adam'),
      learningRate: num(t, 'learningRate', 'training', 0, 10, 0.001),
      classWeights,
      // The default survives strong label skew across hospitals (bench/accuracy.ts measures both).
      loss,
      labelPrior,
      server,
    },
    participation: {
      minParticipants,
      participantsPerRound,
      roundDeadlineSeconds: num(p, 'roundDeadlineSeconds', 'participation', 0, 7 * 24 * 3600, 600),
      joinTimeoutSeconds: num(p, 'joinTimeoutSeconds', 'participation', 0, 30 * 24 * 3600, 3600),
      gatherSeconds: num(p, 'gatherSeconds', 'participation', -1e-12, 24 * 3600, 10),
      browsers: { enabled, maxPerRound },
    },
    evaluation,
    aggregation,
  }

  function parseAggregation(a: Record<string, unknown>): Aggregation {
    const mode = choice(a, 'mode', 'aggregation', ['secure', 'plaintext-debug'] as const, 'secure')
    if (mode === 'plaintext-debug') {
      obj(a, 'aggregation (mode "plaintext-debug")', ['mode'])
      return { mode }
    }
    if (minParticipants < 2)
      throw new TaskFileError(
        `${where}: participation.minParticipants: secure aggregation needs at least 2 (a sum of one update is that update), got ${minParticipants}`,
      )
    const clipNorm = num(a, 'clipNorm', 'aggregation', 0, 1e6, 10)
    const maxExamples = int(a, 'maxExamples', 'aggregation', 1, 10_000_000, 100_000)
    const expectedDropout = num(a, 'expectedDropout', 'aggregation', -1e-12, 0.9, 0.1)
    let fixedPoint: FixedPoint
    let derived: { k: number; t: number }
    try {
      // The sum of one round's updates must fit 32 bits with no wrap: checked here, once.
      fixedPoint = fixedPointFor({ participants: participantsPerRound, maxExamples, clipNorm })
      derived = secaggParameters({ participants: participantsPerRound, dropoutRate: expectedDropout })
    } catch (error) {
      throw new TaskFileError(`${where}: aggregation: ${(error as Error).message}`)
    }
    if (a.neighbours === undefined && derived.k > MAX_NEIGHBOURS)
      throw new TaskFileError(
        `${where}: aggregation: an expected dropout of ${expectedDropout} needs neighbourhoods of ${derived.k}, above the ${MAX_NEIGHBOURS} Shamir over GF(2^8) allows; lower expectedDropout or set neighbours and threshold`,
      )
    const neighbours = int(a, 'neighbours', 'aggregation', 2, MAX_NEIGHBOURS, derived.k)
    const k = Math.min(neighbours, participantsPerRound)
    // A ring of neighbourhoods has the participant and (k−1)/2 on each side: k must be odd unless
    // it covers everyone.
    if (k < participantsPerRound && k % 2 === 0)
      throw new TaskFileError(
        `${where}: aggregation.neighbours: expected an odd number (the participant and as many on each side), or at least participantsPerRound (${participantsPerRound}), got ${neighbours}`,
      )
    const threshold = int(
      a,
      'threshold',
      'aggregation',
      2,
      MAX_NEIGHBOURS,
      a.neighbours === undefined ? derived.t : Math.floor(k / 2) + 1,
    )
    if (threshold <= k / 2 || threshold > k)
      throw new TaskFileError(
        `${where}: aggregation.threshold: expected more than half of the ${k} in a neighbourhood and at most ${k}, got ${threshold}`,
      )
    return {
      mode,
      clipNorm,
      maxExamples,
      expectedDropout,
      neighbours: k,
      threshold,
      stageDeadlineSeconds: num(a, 'stageDeadlineSeconds', 'aggregation', 0, 24 * 3600, 60),
      fixedPoint,
    }
  }
}

function absolute(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path)
}
