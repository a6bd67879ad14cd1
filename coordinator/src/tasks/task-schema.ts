import { SELECTION_METRICS } from '@fedtune/model'
import {
  describe,
  type FixedPoint,
  fixedPointFor,
  IMAGE_VIEWS,
  MAX_DESCRIPTION,
  PRIVACY_UNITS,
  ProtocolError,
  secaggParameters,
} from '@fedtune/protocol'
import { z } from 'zod'

/**
 * The task file's schema: every field, its type, limits, default and meaning in one place. The
 * coordinator parses task files with it (task-file.ts), `npm run docs:task-schema` turns it into
 * docs/task-file.schema.json and the field tables of docs/task-file.md (task-docs.ts), and a test
 * keeps the three equal. Each check's error text is what was *expected*, in fedtune's words; the
 * reader adds the field's path and what was found (tasks/task-file-error.ts).
 */

/** What the docs' field table shows where the schema alone would say too little. */
export type TableDoc = {
  /** The "type" column, instead of the one derived from the schema. */
  readonly type?: string
  /** The "default" column, for a default that depends on other fields. */
  readonly default?: string
  /** An object shown as one row (its fields in the meaning) instead of a row per field. */
  readonly row?: boolean
}

export const tableDocs = z.registry<TableDoc>()

/** A field with its meaning (the JSON Schema's description, the table's meaning column). */
function field<T extends z.ZodType>(schema: T, meaning: string, table?: TableDoc): T {
  const described = schema.describe(meaning)
  if (table !== undefined) tableDocs.add(described, table)
  return described
}

const expecting = (text: string) => ({ error: text })

function integer(min: number, max: number) {
  const e = expecting(`an integer from ${min} to ${max}`)
  return z.int(e).min(min, e).max(max, e)
}

/** (min, max]: above min, at most max. */
function above(min: number, max: number) {
  const e = expecting(`a number above ${min} and at most ${max}`)
  return z.number(e).gt(min, e).max(max, e)
}

/** [min, max]. */
function between(min: number, max: number) {
  const e = expecting(`a number from ${min} to ${max}`)
  return z.number(e).min(min, e).max(max, e)
}

const VIEWS_EXPECTED = `a non-empty list of distinct views from ${IMAGE_VIEWS.map((v) => `"${v}"`).join(', ')}, in that order`

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, expecting(`one of ${values.map((v) => `"${v}"`).join(', ')}`))
}

/**
 * An object that refuses fields it does not know, so a typo never falls back to a default; the
 * refusal lists the fields it takes (`only`, unless the object says better).
 */
function object<S extends z.ZodRawShape>(shape: S, only?: string) {
  const known = only ?? `only known fields (${Object.keys(shape).join(', ')})`
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? known : 'an object'),
  })
}

/** Shamir shares carry x = 1..255 in GF(2^8): the largest neighbourhood. */
export const MAX_NEIGHBOURS = 255

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const denseLayer = object({
  type: z.literal('dense'),
  units: integer(1, 65536),
  activation: z.enum(['relu', 'linear'], expecting('"relu" or "linear"')).default('relu'),
})
const dropoutLayer = object({
  type: z.literal('dropout'),
  rate: z
    .number(expecting('a number in [0, 1)'))
    .min(0, expecting('a number in [0, 1)'))
    .lt(1, expecting('a number in [0, 1)')),
})
const layer = z.discriminatedUnion('type', [denseLayer, dropoutLayer], {
  error: (issue) => (issue.code === 'invalid_union' ? '"dense" or "dropout"' : 'an object'),
})

const labelsExpected = expecting('at least two non-empty class names')
const labels = z
  .array(
    z.string(expecting('a non-empty class name')).min(1, expecting('a non-empty class name')),
    labelsExpected,
  )
  .min(2, labelsExpected)
  .refine((names) => new Set(names).size === names.length, expecting('distinct class names'))

const head = object({
  layers: field(
    z.array(layer, expecting('an array of layers')).default([]),
    'hidden layers: `{ "type": "dense", "units": 1..65536, "activation": "relu" | "linear" }` or `{ "type": "dropout", "rate": [0, 1) }`. The output layer (dense, softmax, one unit per label) is implied. `[]` is logistic regression on the embedding',
    { type: 'list' },
  ),
  labels: field(
    labels,
    "class names; a hospital's image folder has one subfolder per label (a hospital may lack some)",
    { type: '≥ 2 distinct strings' },
  ),
  seed: field(
    integer(0, 2 ** 32 - 1).default(0),
    "seeds the head's initialization, participant selection and local shuffling",
  ),
  ordinal: field(
    z.boolean(expecting('true or false')).default(false),
    'whether the labels are grades in order (e.g. diabetic retinopathy 0–4, in the order of `labels`): the rounds are then also measured by quadratic weighted kappa and the mean absolute grade error, and `evaluation.metric` may be `"qwk"`',
  ),
  inputCentre: field(
    oneOf(['validation', 'none']).optional(),
    'what the head\'s inputs are centred on: `"validation"`, the mean embedding of the coordinator\'s validation set (needs `evaluation.validation`; public to the coordinator, so it costs no privacy), computed once at a run\'s start, kept with the run and sent to every participant, which subtracts it from every embedding before the head in training and evaluation; the exported model folds it into its first layer\'s bias. Backbone embeddings share a large mean, so centred ones give small per-example gradients and a DP clip norm clips little (docs/privacy.md). `"none"`: the embeddings as the backbone gives them',
    { default: '`"validation"` under `privacy` with a validation set, else `"none"`' },
  ),
})

const sgdServer = object(
  {
    optimizer: field(oneOf(['sgd']).default('sgd'), 'FedAvg at learning rate 1'),
    learningRate: field(above(0, 10).default(1), "the coordinator's learning rate on the mean update"),
  },
  'only optimizer and learningRate with optimizer "sgd"',
)
const adamServer = object({
  optimizer: field(oneOf(['adam']), 'FedAdam (Reddi et al., ICLR 2021)'),
  learningRate: field(above(0, 10).default(0.01), "η, the coordinator's learning rate"),
  beta1: field(above(0, 0.999999).default(0.9), 'β1, the decay of the first moment'),
  beta2: field(above(0, 0.999999).default(0.99), 'β2, the decay of the second moment'),
  epsilon: field(above(0, 1).default(1e-3), 'τ, the adaptivity floor'),
  weightDecay: field(
    between(0, 1000).default(0),
    'λ, decoupled weight decay (AdamW, Loshchilov & Hutter, ICLR 2019): each round w ← (1 − η·λ)·w + η·m/(√v + τ), every parameter, biases included; it costs no privacy (the coordinator applies it to what it holds). η·λ must stay below 1. `0`: plain FedAdam. The recipe does not use it (README, "Accuracy": tried on validation)',
  ),
}).refine((adam) => adam.learningRate * adam.weightDecay < 1, {
  path: ['weightDecay'],
  error: (issue) => {
    const adam = issue.input as { learningRate: number }
    return `a weight decay λ with η·λ below 1, so below ${1 / adam.learningRate} at η = ${adam.learningRate} (else each round would flip or zero the weights)`
  },
})
const server = z.discriminatedUnion('optimizer', [sgdServer, adamServer], {
  error: (issue) => (issue.code === 'invalid_union' ? 'one of "sgd", "adam"' : 'an object'),
})

const training = object({
  rounds: field(integer(1, 100_000), 'federated rounds (a failed round counts)'),
  localEpochs: field(integer(1, 1000).default(1), 'epochs each participant trains per round'),
  batchSize: field(integer(1, 65536).default(32), 'local mini-batch size'),
  optimizer: field(oneOf(['adam', 'sgd']).default('adam'), 'local optimizer, fresh every round'),
  learningRate: field(above(0, 10).default(0.001), 'local learning rate'),
  // The default survives strong label skew across hospitals (bench/accuracy.ts measures both).
  loss: field(
    oneOf(['logit-adjusted', 'cross-entropy']).default('logit-adjusted'),
    "the local loss. `logit-adjusted` trains on softmax(z + log π), π the participant's own label mix (Menon et al., ICLR 2021; the calibration FedLC, Zhang et al., ICML 2022, applies to federated label skew), and predicts with softmax(z): every hospital then learns the same classifier whatever its mix of labels, and a hospital holding one label leaves the head unchanged instead of pulling it to that label. Plain `cross-entropy` lets strongly skewed hospitals pull the average to their majority label; `npm run bench:accuracy` measures both",
  ),
  labelPrior: field(
    oneOf(['local', 'federation', 'validation', 'uniform']).optional(),
    'the π of the logit-adjusted loss: each participant\'s own label mix (`"local"`), the federation\'s (`"federation"`: the coordinator sums it from the label counts of the last aggregate, uniform before the first, and hands it out with every round, so every participant\'s loss is a term of one federation-wide loss, which the label-skew recipe below needs), the label mix of the coordinator\'s validation set (`"validation"`, needs `evaluation.validation`) or every label equally (`"uniform"`). Only with `loss: "logit-adjusted"`. Under `privacy` the federation\'s mix is not known (the counts stay out of the sum), and with `privacy.unit: "example"` a participant\'s own mix would make every example\'s loss depend on the others: then only `"validation"` or `"uniform"`',
    { default: '`"local"`; under `privacy`, `"validation"` with a validation set, else `"uniform"`' },
  ),
  server: field(
    server.optional(),
    'what the coordinator does with the round\'s example-weighted mean update Δ̄. `sgd` at rate 1 is FedAvg: w ← w + Δ̄. `{ "optimizer": "adam", "learningRate": 0.01, "beta1": 0.9, "beta2": 0.99, "epsilon": 0.001 }` (the defaults shown) is FedAdam (Reddi et al., ICLR 2021): Adam on the pseudo-gradient −Δ̄, its moments saved with each round\'s head so a restarted coordinator continues them. Adam\'s `"weightDecay": λ` (default 0) adds decoupled weight decay (AdamW): w ← (1 − η·λ)·w + η·m/(√v + τ) each round, every parameter, with η·λ below 1',
    { row: true, type: 'object', default: '`{ "optimizer": "sgd", "learningRate": 1 }`' },
  ),
  // The logit-adjusted loss already takes each site's label mix out of the logits; balanced class
  // weights on top correct twice (val AUC at Dirichlet α=0.1, 30 rounds of 2 epochs: 0.90 against 0.93).
  classWeights: field(
    oneOf(['balanced', 'none']).optional(),
    "`balanced` weighs class c by n / (C · n_c) over each participant's own data; with the logit-adjusted loss it corrects for the label mix a second time, which measured worse",
    { default: '`"none"` with `logit-adjusted`, else `"balanced"`' },
  ),
})

const browsers = object({
  enabled: field(
    z.boolean(expecting('true or false')).default(false),
    "whether volunteers may take part from the coordinator's `/join` page (see Browser participants below). Off unless the task file turns it on: a browser's hello to a task without it is refused (`browsers-disabled`)",
  ),
  maxPerRound: field(
    integer(1, 100_000).default(1),
    "at most this many of a round's `participantsPerRound` places go to browsers; the rest go to hospitals. Ignored while `enabled` is `false`",
    { type: '1..`participantsPerRound`' },
  ),
})

const participation = object({
  minParticipants: field(
    integer(1, 100_000).default(2),
    'a round starts when this many are online, and is aggregated only if this many updates arrive',
  ),
  participantsPerRound: field(
    integer(1, 100_000).optional(),
    'how many of those online are selected (seeded) each round',
    { type: '≥ min, ≤ 100000', default: '= min' },
  ),
  roundDeadlineSeconds: field(
    above(0, 7 * 24 * 3600).default(600),
    'a round with fewer than `minParticipants` updates at its deadline fails, visibly, and the next one starts',
  ),
  joinTimeoutSeconds: field(
    above(0, 30 * 24 * 3600).default(3600),
    'the run ends if too few participants joined by then, instead of waiting forever',
  ),
  gatherSeconds: field(
    between(0, 24 * 3600).default(10),
    'with at least `minParticipants` but fewer than `participantsPerRound` online, how long to wait for more before a round starts anyway; `0` starts at once',
  ),
  browsers: browsers.prefault({}),
})

const volunteers = object({
  mode: field(
    oneOf(['open', 'invite']).default('open'),
    "how volunteers enrol: `open`, anyone with the `/join` page's address, within the cap and rate below; `invite`, only with an invite link an operator issued",
  ),
  maxParticipants: field(
    integer(1, 1_000_000).default(1000),
    'the most volunteers the task enrols; later ones are refused',
  ),
  perAddressPerHour: field(
    integer(1, 100_000).default(10),
    'the most volunteer enrolments from one network address per hour, so one machine cannot fill the cap',
  ),
})

const enrolment = object({
  hospitals: field(
    oneOf(['approval', 'invite']).default('approval'),
    "how hospitals enrol: `approval`, a first hello waits, listed with the key fingerprint the hospital's client prints, until an operator approves it; `invite`, the operator issues a one-time enrolment code per hospital name (`fedtune participant invite`), which the client presents once with `--invite`. Either way a name is reserved by its approval or invite, never by whoever says hello first",
  ),
  volunteers: volunteers.prefault({}),
})

/**
 * How updates reach the coordinator. 'secure' (the default, and the only mode of a real
 * federation): SecAgg+ masking, so the coordinator learns only the round's sum
 * (docs/secure-aggregation.md). 'plaintext-debug': updates in the clear, for debugging only; it takes
 * no other field.
 */
const secureAggregation = object({
  mode: field(
    oneOf(['secure']).default('secure'),
    '`plaintext-debug` sends updates in the clear, for debugging only: the coordinator prints a warning on every round, and hospital clients refuse such a task unless started with `--allow-plaintext`. It takes no other field',
    { type: '`"secure"` | `"plaintext-debug"`' },
  ),
  clipNorm: field(
    above(0, 1e6).default(10),
    'each update Δ is scaled down to this L2 norm if it is larger, which bounds what one participant adds to the sum',
  ),
  maxExamples: field(
    integer(1, 10_000_000).default(100_000),
    'the most training examples one participant may weigh in with (its n in n·Δ)',
  ),
  expectedDropout: field(
    between(0, 0.9).default(0.1),
    'the share of participants expected to drop out during a round; the neighbourhood size and threshold are derived from it',
  ),
  neighbours: field(
    integer(2, MAX_NEIGHBOURS).optional(),
    "k: each participant's neighbourhood, itself included (capped at `participantsPerRound`)",
    { default: 'derived' },
  ),
  threshold: field(
    integer(2, MAX_NEIGHBOURS).optional(),
    "t: shares needed to rebuild a dropped participant's mask key or a survivor's self-mask; more than half of k",
    { type: '> k/2, ≤ k', default: 'derived' },
  ),
  stageDeadlineSeconds: field(
    above(0, 24 * 3600).default(60),
    'deadline of each key-exchange and unmasking stage (the masked update itself is due by the round deadline)',
  ),
})
const plaintextAggregation = object(
  {
    mode: field(oneOf(['plaintext-debug']), 'updates in the clear, for debugging only; takes no other field'),
  },
  'only mode with mode "plaintext-debug"',
)
const aggregation = z.discriminatedUnion('mode', [secureAggregation, plaintextAggregation], {
  error: (issue) => (issue.code === 'invalid_union' ? 'one of "secure", "plaintext-debug"' : 'an object'),
})

const folder = (what: string) =>
  z
    .string(expecting(`a folder of ${what}, one subfolder per label`))
    .min(1, expecting(`a folder of ${what}, one subfolder per label`))

const evaluationFields = {
  validation: field(
    folder('validation images').optional(),
    "the coordinator's validation images (one subfolder per label, a label may have none): every aggregated round's head is measured on them, and the best round by `metric` is the one kept, exported and reported. `fedtune data split` writes a data set's official validation split here. Never a hospital's training images",
    { type: 'folder', default: 'none' },
  ),
  test: field(
    folder('held-out test images').optional(),
    "held-out test images (one subfolder per label): every aggregated round's head is measured on them and the figures reported, never used to choose anything",
    { type: 'folder', default: 'none' },
  ),
  metric: field(
    oneOf(SELECTION_METRICS).default('auc'),
    'the validation figure that picks the best round (higher is better): `auc` (ROC AUC, macro one-vs-rest for more than two labels), `accuracy`, `balancedAccuracy` (mean recall over the labels), `qwk` (quadratic weighted kappa; only with `head.ordinal`)',
  ),
  patience: field(
    integer(1, 100_000).optional(),
    "stop the run, as finished, after this many rounds without a better validation figure than the best round's; needs `validation`",
    { default: 'none (run every round)' },
  ),
  prior: field(
    oneOf(['federation', 'validation', 'uniform']).optional(),
    "the label mix a logit-adjusted head predicts with (folded into its output bias; in the coordinator's evaluation, the participants' and the exported model): `federation`, the round's label counts over its contributors (best accuracy on data mixed like the federation's), `validation`, the label mix of the coordinator's validation set, or `uniform`, every label equally likely (best balanced accuracy, better recall of rare labels). Ignored with `training.loss: \"cross-entropy\"`, whose head predicts with the training mix already. Under `privacy` the federation's mix is not known (the counts stay out of the sum)",
    { default: '`"federation"`; under `privacy`, `"validation"` with a validation set, else `"uniform"`' },
  ),
}

/** The validation and test sets; `data` (one held-out folder, before validation and test) is refused saying what it became. */
const evaluation = z.strictObject(evaluationFields, {
  error: (issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.includes('data')
        ? 'only validation, test, metric, patience and prior: "data" became "test" (the held-out images, reported) and "validation" (the images the best round is chosen on)'
        : `only known fields (${Object.keys(evaluationFields).join(', ')})`
      : 'an object',
})

const privacy = object({
  unit: field(
    oneOf(PRIVACY_UNITS),
    '`"example"`: one patient\'s image is what is protected; each participant trains with DP-SGD (per-example clipping, Gaussian noise on every step, Poisson sampling), for hospitals. `"participant"`: a whole hospital or volunteer is protected; each clips its whole update and adds its share of discrete Gaussian noise inside the secure sum, before masking',
  ),
  epsilon: field(
    above(0, 1000),
    'the target ε over the whole run: no participant trains a round that would take it past, and the coordinator ends the run before one could',
  ),
  delta: field(
    z
      .number(expecting('a number in (0, 0.5]'))
      .gt(0, expecting('a number in (0, 0.5]'))
      .max(0.5, expecting('a number in (0, 0.5]'))
      .default(1e-5),
    'the target δ; must be below 1 / n (n the examples of a hospital for `"example"`, the participants of a round for `"participant"`)',
  ),
  clipNorm: field(
    above(0, 1e6).default(1),
    "C: the L2 bound of one example's gradient (`example`) or of one participant's whole update (`participant`)",
  ),
  noiseMultiplier: field(
    above(0, 1e6).optional(),
    "z: the noise's standard deviation over C. Without it the coordinator derives the smallest z that keeps the whole run (every round, the fewest survivors) within ε",
    { default: 'derived from epsilon' },
  ),
  samplingRate: field(
    above(0, 1).optional(),
    'q (`example` only): each DP-SGD step includes each example independently with this probability (Poisson sampling); a round is localEpochs × round(1/q) steps',
    { default: '1 (full batch)' },
  ),
})

const fields = object({
  $schema: field(
    z.string(expecting('a string')).optional(),
    'the address of this JSON Schema (docs/task-file.schema.json), for editors; the coordinator does not read it',
    { default: 'none' },
  ),
  name: field(
    z
      .string(expecting('a name of letters, digits, ".", "_" or "-" (at most 64)'))
      .regex(NAME, expecting('a name of letters, digits, ".", "_" or "-" (at most 64)')),
    "the task's name; also names the run folder",
    { type: 'string, `[A-Za-z0-9._-]`, ≤ 64' },
  ),
  description: field(
    z
      .string(expecting(`a string of at most ${MAX_DESCRIPTION} characters`))
      .max(MAX_DESCRIPTION, expecting(`a string of at most ${MAX_DESCRIPTION} characters`))
      .default(''),
    "what the task is, in plain words: the volunteers' page at `/join` shows it, and every participant receives it with the task (`TaskInfo.description`)",
  ),
  backbone: object({
    source: field(
      z
        .string(expecting('a folder path or an http(s) URL of a model.json'))
        .min(1, expecting('a folder path or an http(s) URL of a model.json')),
      "a TensorFlow.js layers model: a folder with `model.json` and its weight files, or the URL of a `model.json` (its weight files are fetched relative to it, verified, cached). A relative path is resolved against the task file's folder",
      { type: 'path or `http(s)://…/model.json`' },
    ),
    sha256: field(
      z
        .string(expecting('the 64 hex digits that `fedtune backbone digest <folder>` prints'))
        .regex(
          /^[0-9a-f]{64}$/,
          expecting('the 64 hex digits that `fedtune backbone digest <folder>` prints'),
        ),
      "the backbone's digest: SHA-256 of the `sha256sum`-style listing of its files, `model.json` first, then the weight files in the order `model.json` lists them. `fedtune backbone digest <folder>` prints it. A mismatch stops the coordinator, and every participant checks it again",
      { type: '64 hex digits' },
    ),
    views: field(
      z
        .array(oneOf(IMAGE_VIEWS), expecting(VIEWS_EXPECTED))
        .min(1, expecting(VIEWS_EXPECTED))
        .refine(
          (views) =>
            views.every(
              (v, i) =>
                i === 0 ||
                IMAGE_VIEWS.indexOf(v) > IMAGE_VIEWS.indexOf(views[i - 1] as (typeof IMAGE_VIEWS)[number]),
            ),
          expecting(VIEWS_EXPECTED),
        )
        .default(['original']),
      'the views of each image the backbone embeds; the head reads the mean of their embeddings, in training, evaluation and the exported model. `["original"]`: one pass per image. `["original", "horizontal-flip", "vertical-flip", "rotate-180"]`: four passes (embedding takes four times as long, once per image: embeddings are cached), and the head reads the same input for an image and its mirror images. All eight (those four, then `transpose`, `rotate-90`, `rotate-270`, `transverse`: the same flips of the image mirrored in its diagonal): eight passes, and the same input for every quarter turn and mirror image (README, "Accuracy": chosen on validation for the recipe, over four flips and one view)',
      { type: 'list of views' },
    ),
  }),
  head,
  training,
  participation: participation.prefault({}),
  evaluation: evaluation.optional(),
  enrolment: enrolment.prefault({}),
  aggregation: aggregation.prefault({}),
  privacy: field(
    privacy.optional(),
    'differential privacy (docs/privacy.md): the unit protected, the target ε and δ, the clip norm and the noise. Without it the task gives no differential-privacy guarantee, and says so to every participant',
    { default: 'none' },
  ),
})

/** The fields as written, defaults filled in; task-file.ts derives the rest (paths, k, t, scale). */
export type TaskFileFields = z.output<typeof fields>

/** A refusal found by the checks that span fields: its path, what was expected, what was found. */
export type FieldProblem = {
  readonly path: readonly (string | number)[]
  readonly expected: string
  readonly found: string
}

export type SecureParameters = {
  /** k, capped at participantsPerRound. */
  readonly neighbours: number
  readonly threshold: number
  readonly fixedPoint: FixedPoint
}

/**
 * The secure aggregation's derived parameters: the fixed point (the sum of one round's updates must
 * fit 32 bits with no wrap: checked here, once) and k and t from the expected dropout
 * (secaggParameters), or what is wrong with the fields they come from.
 */
export function secureParameters(spec: {
  readonly participantsPerRound: number
  readonly clipNorm: number
  readonly maxExamples: number
  readonly expectedDropout: number
  readonly neighbours?: number | undefined
  readonly threshold?: number | undefined
}):
  | { readonly ok: true; readonly value: SecureParameters }
  | { readonly ok: false; readonly problems: FieldProblem[] } {
  const { participantsPerRound, clipNorm, maxExamples, expectedDropout } = spec
  const problems: FieldProblem[] = []
  let fixedPoint: FixedPoint | undefined
  try {
    fixedPoint = fixedPointFor({ participants: participantsPerRound, maxExamples, clipNorm })
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error
    problems.push({
      path: ['aggregation'],
      expected: 'participantsPerRound × maxExamples × clipNorm small enough for a 32-bit sum',
      found: error.message,
    })
  }
  let derived: { k: number; t: number }
  try {
    derived = secaggParameters({ participants: participantsPerRound, dropoutRate: expectedDropout })
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error
    problems.push({
      path: ['aggregation', 'expectedDropout'],
      expected: 'a dropout rate in [0, 1)',
      found: error.message,
    })
    return { ok: false, problems }
  }
  if (spec.neighbours === undefined && derived.k > MAX_NEIGHBOURS) {
    problems.push({
      path: ['aggregation', 'expectedDropout'],
      expected: `a rate whose neighbourhoods fit: this one needs ${derived.k}, above the ${MAX_NEIGHBOURS} Shamir over GF(2^8) allows; lower expectedDropout or set neighbours and threshold`,
      found: describe(expectedDropout),
    })
    return { ok: false, problems }
  }
  const neighbours = spec.neighbours ?? derived.k
  const k = Math.min(neighbours, participantsPerRound)
  // A ring of neighbourhoods has the participant and (k−1)/2 on each side: k must be odd unless
  // it covers everyone.
  if (k < participantsPerRound && k % 2 === 0)
    problems.push({
      path: ['aggregation', 'neighbours'],
      expected: `an odd number (the participant and as many on each side), or at least participantsPerRound (${participantsPerRound})`,
      found: describe(neighbours),
    })
  const threshold = spec.threshold ?? (spec.neighbours === undefined ? derived.t : Math.floor(k / 2) + 1)
  if (threshold <= k / 2 || threshold > k)
    problems.push({
      path: ['aggregation', 'threshold'],
      expected: `more than half of the ${k} in a neighbourhood and at most ${k}`,
      found: describe(threshold),
    })
  if (problems.length > 0 || fixedPoint === undefined) return { ok: false, problems }
  return { ok: true, value: { neighbours: k, threshold, fixedPoint } }
}

type Path = readonly (string | number)[]

/**
 * The checks that span fields. They run even when other fields failed, so one reading lists every
 * mistake; each runs only on fields that parsed, so a bad field is not reported twice.
 */
function acrossFields(task: TaskFileFields, ctx: z.RefinementCtx<TaskFileFields>): void {
  if (typeof task !== 'object' || task === null) return
  const failed = ctx.issues
    .filter((issue) => issue.code !== 'unrecognized_keys')
    .map((issue) => issue.path ?? [])
  const settled = (...paths: Path[]) =>
    paths.every((path) => !failed.some((bad) => startsWith(bad, path) || startsWith(path, bad)))
  const problem = (p: FieldProblem, input: unknown) =>
    ctx.addIssue({
      code: 'custom',
      path: [...p.path],
      message: p.expected,
      params: { found: p.found },
      input,
    })

  if (task.evaluation !== undefined && settled(['evaluation'])) {
    const e = task.evaluation
    // an evaluation with an unknown field (the old `data`) is refused for it, not also for what it lacks
    const unknown = ctx.issues.some(
      (issue) => issue.code === 'unrecognized_keys' && startsWith(issue.path ?? [], ['evaluation']),
    )
    if (e.validation === undefined && e.test === undefined && !unknown)
      problem(
        {
          path: ['evaluation'],
          expected: 'a validation folder, a test folder or both',
          found: 'neither',
        },
        e,
      )
    else if (e.patience !== undefined && e.validation === undefined)
      problem(
        {
          path: ['evaluation', 'patience'],
          expected:
            'no patience without evaluation.validation (patience counts rounds without a better validation figure)',
          found: describe(e.patience),
        },
        e.patience,
      )
    if (e.metric === 'qwk' && settled(['head', 'ordinal']) && !task.head.ordinal)
      problem(
        {
          path: ['evaluation', 'metric'],
          expected:
            '"auc", "accuracy" or "balancedAccuracy": "qwk" is for ordinal labels (head.ordinal: true)',
          found: describe(e.metric),
        },
        e.metric,
      )
  }

  const minPath = ['participation', 'minParticipants']
  const perRoundPath = ['participation', 'participantsPerRound']
  if (!settled(minPath, perRoundPath)) return
  const { minParticipants } = task.participation
  const participantsPerRound = task.participation.participantsPerRound ?? minParticipants
  if (participantsPerRound < minParticipants)
    problem(
      {
        path: perRoundPath,
        expected: `at least minParticipants (${minParticipants})`,
        found: describe(participantsPerRound),
      },
      participantsPerRound,
    )
  // More browser places than places is a misreading of the field, worth naming.
  else if (
    settled(['participation', 'browsers']) &&
    task.participation.browsers.maxPerRound > participantsPerRound
  )
    problem(
      {
        path: ['participation', 'browsers', 'maxPerRound'],
        expected: `at most participantsPerRound (${participantsPerRound})`,
        found: describe(task.participation.browsers.maxPerRound),
      },
      task.participation.browsers.maxPerRound,
    )

  if (settled(['training', 'loss'], ['training', 'labelPrior'])) {
    const { loss, labelPrior } = task.training
    if (labelPrior !== undefined && labelPrior !== 'local' && loss !== 'logit-adjusted')
      problem(
        {
          path: ['training', 'labelPrior'],
          expected: `"local" or none with training.loss "${loss}" (the prior is the logit-adjusted loss's)`,
          found: describe(labelPrior),
        },
        labelPrior,
      )
  }
  const hasValidation = task.evaluation?.validation !== undefined
  for (const [path, prior] of [
    [['training', 'labelPrior'], task.training?.labelPrior],
    [['evaluation', 'prior'], task.evaluation?.prior],
  ] as const)
    if (prior === 'validation' && settled(path, ['evaluation']) && !hasValidation)
      problem(
        {
          path,
          expected: '"validation" only with evaluation.validation (it is that set\'s label mix)',
          found: describe(prior),
        },
        prior,
      )
  if (
    task.head?.inputCentre === 'validation' &&
    settled(['head', 'inputCentre'], ['evaluation']) &&
    !hasValidation
  )
    problem(
      {
        path: ['head', 'inputCentre'],
        expected:
          '"validation" only with evaluation.validation (it is that set\'s mean embedding), or "none"',
        found: describe(task.head.inputCentre),
      },
      task.head.inputCentre,
    )
  if (task.privacy !== undefined && settled(['privacy'])) privacyAcrossFields(task, settled, problem)

  if (!settled(['aggregation'])) return
  const a = task.aggregation
  if (task.privacy?.unit === 'participant' && a.mode !== 'secure')
    problem(
      {
        path: ['aggregation', 'mode'],
        expected:
          '"secure" with privacy.unit "participant": each participant adds only its share of the noise, which hides nothing outside the secure sum',
        found: describe(a.mode),
      },
      a.mode,
    )
  if (a.mode !== 'secure' || participantsPerRound < minParticipants) return
  if (minParticipants < 2) {
    problem(
      {
        path: minPath,
        expected: 'at least 2 with secure aggregation (a sum of one update is that update)',
        found: describe(minParticipants),
      },
      minParticipants,
    )
    return
  }
  const derived = secureParameters({ participantsPerRound, ...a })
  if (!derived.ok) for (const p of derived.problems) problem(p, undefined)
}

type Problem = (p: FieldProblem, input: unknown) => void

/** What `privacy` rules out in the other fields: the counts stay out of the sum, and with unit "example" nothing data-dependent may shape the loss. */
function privacyAcrossFields(
  task: TaskFileFields,
  settled: (...paths: Path[]) => boolean,
  problem: Problem,
): void {
  const p = task.privacy
  if (p === undefined) return
  if (p.unit === 'participant' && p.samplingRate !== undefined)
    problem(
      {
        path: ['privacy', 'samplingRate'],
        expected:
          'no samplingRate with unit "participant" (every selected participant takes part; it is DP-SGD\'s rate, for unit "example")',
        found: describe(p.samplingRate),
      },
      p.samplingRate,
    )
  if (settled(['training', 'labelPrior'])) {
    const labelPrior = task.training.labelPrior
    const refused = p.unit === 'example' ? ['federation', 'local'] : ['federation']
    if (labelPrior !== undefined && refused.includes(labelPrior))
      problem(
        {
          path: ['training', 'labelPrior'],
          expected:
            p.unit === 'example'
              ? '"validation" or "uniform" with privacy.unit "example": the federation\'s label counts stay out of a private sum, and a participant\'s own mix would make each example\'s loss depend on the others, which per-example clipping does not bound'
              : '"local", "validation" or "uniform" with privacy: the federation\'s label counts stay out of a private sum',
          found: describe(labelPrior),
        },
        labelPrior,
      )
  }
  if (
    p.unit === 'example' &&
    settled(['training', 'classWeights']) &&
    task.training.classWeights === 'balanced'
  )
    problem(
      {
        path: ['training', 'classWeights'],
        expected:
          '"none" with privacy.unit "example": balanced weights come from each participant\'s own label counts, so one example would change every other example\'s weight',
        found: describe('balanced'),
      },
      'balanced',
    )
  if (settled(['evaluation']) && task.evaluation?.prior === 'federation')
    problem(
      {
        path: ['evaluation', 'prior'],
        expected:
          '"validation" or "uniform" with privacy: the federation\'s label counts stay out of a private sum',
        found: describe('federation'),
      },
      'federation',
    )
  if (p.unit === 'participant' && settled(['participation'])) {
    const perRound = task.participation.participantsPerRound ?? task.participation.minParticipants
    if (p.delta >= 1 / perRound)
      problem(
        {
          path: ['privacy', 'delta'],
          expected: `below 1 / participantsPerRound = ${describe(1 / perRound)} (a δ of 1/n lets a mechanism reveal one participant outright)`,
          found: describe(p.delta),
        },
        p.delta,
      )
  }
}

function startsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((key, i) => path[i] === key)
}

/** The whole task file: its fields and the checks between them. */
export const taskFileSchema = fields.superRefine(acrossFields, { when: () => true }).meta({
  title: 'fedtune task file',
  description:
    "One federation: the backbone, the head, training, participation, enrolment and aggregation. Relative paths are resolved against the task file's own folder; unknown fields are refused. See docs/task-file.md.",
})
