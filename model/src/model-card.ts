import { describe, type ImageView, ORIGINAL_ONLY } from '@fedtune/protocol'
import type { ClinicalMetrics } from './metrics/clinical-metrics.ts'

/**
 * What a downloaded model is, beside its model.json: what it was trained for, on how much, how well
 * it did on the coordinator's validation and test sets, which round it is and why, under which privacy settings, and how an image must be
 * prepared for it. `fedtune predict` reads `labels` and `preprocessing`; the rest is for people.
 */
export type ModelCard = {
  readonly format: typeof MODEL_CARD_FORMAT
  readonly task: { readonly id: string; readonly name: string; readonly description: string }
  readonly run: {
    readonly id: number
    /** The round whose global head this model carries. */
    readonly round: number
    /** Aggregated rounds of the run up to and including `round`. */
    readonly roundsCompleted: number
    readonly roundsPlanned: number
  }
  /** Class names in the model's output order. */
  readonly labels: readonly string[]
  readonly output: string
  readonly preprocessing: Preprocessing
  /** Summed over the contributors of `round` (from its record); each contributor's own count is not known. */
  readonly training: {
    readonly examples: number
    readonly contributors: number
    readonly labelCounts: readonly number[] | null
  }
  /** Why this round's head: the best on the validation set, the last aggregated round (no validation figure), or the round asked for. */
  readonly chosen: {
    readonly by: 'best-validation' | 'last-round' | 'asked'
    /** The validation figure that chose it (`by: 'best-validation'`), e.g. "auc". */
    readonly metric: string | null
    readonly why: string
  }
  /**
   * The label mix the head predicts with, folded into its output bias (softmax(z + log π)); null:
   * plain softmax. A logit-adjusted head without it predicts as if every label were equally common.
   */
  readonly prior: readonly number[] | null
  /** The head of `round`, as exported (prior folded), on the coordinator's validation set; null without one. */
  readonly validation: ClinicalMetrics | null
  /** The same on the coordinator's test set: the figures to expect on new data; null without one. */
  readonly test: ClinicalMetrics | null
  readonly privacy: {
    readonly aggregation: 'secure' | 'plaintext-debug'
    readonly secureAggregation: {
      readonly protocol: string
      readonly neighbours: number
      readonly threshold: number
      readonly clipNorm: number
      readonly maxExamples: number
      readonly fixedPoint: Readonly<Record<string, number>>
    } | null
    /** 'none': the task gave no differential-privacy guarantee. */
    readonly differentialPrivacy: 'none' | DifferentialPrivacyCard
  }
  readonly backbone: {
    readonly name: string
    readonly source: string
    readonly sha256: string
    readonly embeddingDim: number
    /**
     * The views of each image whose embeddings the head reads the mean of (the task's
     * `backbone.views`; protocol/src/image-views.ts), computed inside the model: it takes images as
     * they are. Absent (every card before views, and a task of the original alone): ["original"].
     */
    readonly views?: readonly ImageView[]
  }
  readonly head: {
    readonly layers: readonly unknown[]
    /**
     * The head was trained on embeddings centred on this (the coordinator's validation set's mean,
     * `head.inputCentre`), and the centre is folded into its first dense layer's bias (b − Wᵀμ): the
     * model takes images as they are. Absent or null: trained on the embeddings as they are.
     */
    readonly inputCentre?: { readonly on: 'validation'; readonly norm: number; readonly folded: true } | null
  }
  readonly fedtuneVersion: string
  readonly createdAt: string
}

/** A private task's guarantee for this head: what the run had spent when its round ended. */
export type DifferentialPrivacyCard = {
  /** What is protected: one example (a patient's image) or one participant (a whole site). */
  readonly unit: 'example' | 'participant'
  /** ε spent by the run up to and including this head's round (the coordinator's account), at `delta`. */
  readonly epsilon: number
  readonly delta: number
  /** The run's target ε. */
  readonly target: number
  /** C: the clip of one example's gradient (example) or one participant's update (participant). */
  readonly clipNorm: number
  /** z: the noise's standard deviation over C. */
  readonly noiseMultiplier: number
}

/**
 * 2: the figures of the validation and test sets (ClinicalMetrics) where /1 had `heldOut`, the prior
 * the head predicts with, and why this round's head was chosen.
 */
export const MODEL_CARD_FORMAT = 'fedtune-model-card/2'

/** The card of a model exported before validation and test sets: one held-out set's accuracy and AUC. */
export const MODEL_CARD_FORMAT_1 = 'fedtune-model-card/1'

export type ModelCardV1 = Omit<ModelCard, 'format' | 'chosen' | 'prior' | 'validation' | 'test'> & {
  readonly format: typeof MODEL_CARD_FORMAT_1
  /** The global head of `round` on the coordinator's held-out set; null when the task had none. */
  readonly heldOut: {
    readonly accuracy: number
    readonly auc: number | null
    readonly examples: number
  } | null
}

/** A card as read from a model folder: this format, or the one before, which `fedtune predict` still reads. */
export type AnyModelCard = ModelCard | ModelCardV1

/** A card's headline figures: a set's accuracy and AUC, and on how many images. */
export type HeadlineFigures = {
  readonly set: 'test' | 'validation' | 'held-out'
  readonly accuracy: number
  readonly auc: number | null
  readonly examples: number
}

/**
 * A card's headline figures, in either format: the test set's, else the validation set's (/2), or
 * the held-out set's (/1); null when the model was measured on none.
 */
export function headlineFigures(card: AnyModelCard): HeadlineFigures | null {
  if (card.format === MODEL_CARD_FORMAT_1) return card.heldOut && { set: 'held-out', ...pick(card.heldOut) }
  if (card.test) return { set: 'test', ...pick(card.test) }
  return card.validation && { set: 'validation', ...pick(card.validation) }
}

function pick(m: Omit<HeadlineFigures, 'set'>): Omit<HeadlineFigures, 'set'> {
  return { accuracy: m.accuracy, auc: m.auc, examples: m.examples }
}

/** The views a card's model averages over: ["original"] for a card that names none. */
export function cardViews(card: AnyModelCard): readonly ImageView[] {
  return card.backbone?.views ?? ORIGINAL_ONLY
}

/** How an image becomes the model's input: what `preprocess` does, written down for other runtimes. */
export type Preprocessing = {
  readonly inputSize: number
  readonly channels: 3
  readonly layout: 'NHWC'
  readonly color: string
  readonly resize: string
  readonly scaling: { readonly formula: 'x / 127.5 - 1'; readonly range: readonly [-1, 1] }
}

export function preprocessingFor(inputSize: number): Preprocessing {
  return {
    inputSize,
    channels: 3,
    layout: 'NHWC',
    color: 'RGB; a gray image is repeated over R, G and B; alpha is dropped',
    resize: `bilinear to ${inputSize}x${inputSize} with half-pixel centers (tf.image.resizeBilinear(x, [${inputSize}, ${inputSize}], false, true)), aspect ratio not kept`,
    scaling: { formula: 'x / 127.5 - 1', range: [-1, 1] },
  }
}

/**
 * The card in a model folder, checked where `fedtune predict` relies on it (format, labels, input
 * size), which both formats share; every problem names the field, what was expected and what was found.
 */
export function parseModelCard(value: unknown, where: string): AnyModelCard {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new Error(`${where}: ${field}: expected ${expected}, got ${shortJson(got)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail('the card', 'a JSON object', value)
  const card = value as Record<string, unknown>
  if (card.format !== MODEL_CARD_FORMAT && card.format !== MODEL_CARD_FORMAT_1)
    fail('format', `"${MODEL_CARD_FORMAT}" or "${MODEL_CARD_FORMAT_1}"`, card.format)
  const labels = card.labels
  if (
    !Array.isArray(labels) ||
    labels.length < 2 ||
    !labels.every((l) => typeof l === 'string' && l.length > 0) ||
    new Set(labels).size !== labels.length
  )
    fail('labels', 'at least two distinct non-empty class names', labels)
  const pre = card.preprocessing as Record<string, unknown> | undefined
  if (typeof pre !== 'object' || pre === null) fail('preprocessing', 'an object', pre)
  const size = (pre as Record<string, unknown>).inputSize
  if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > 4096)
    fail('preprocessing.inputSize', 'an integer from 1 to 4096', size)
  const formula = ((pre as Record<string, unknown>).scaling as { formula?: unknown } | undefined)?.formula
  if (formula !== 'x / 127.5 - 1') fail('preprocessing.scaling.formula', '"x / 127.5 - 1"', formula)
  return value as AnyModelCard
}

function shortJson(value: unknown): string {
  if (value === undefined) return 'nothing'
  // a card is parsed JSON, which JSON.stringify writes back; anything else is only described
  const text = isJsonData(value, 0) ? (JSON.stringify(value) ?? describe(value)) : describe(value)
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}

function isJsonData(value: unknown, depth: number): boolean {
  if (depth > 20) return false
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return true
  if (Array.isArray(value)) return value.every((v) => isJsonData(v, depth + 1))
  if (typeof value === 'object') return Object.values(value).every((v) => isJsonData(v, depth + 1))
  return false
}

/** The folder's README.md: the card in a few lines, and how to load the model. */
export function modelCardReadme(card: ModelCard): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`
  const measured = (m: ClinicalMetrics | null, set: string) =>
    m
      ? `accuracy ${pct(m.accuracy)}, balanced accuracy ${pct(m.balancedAccuracy)}${m.auc === null ? '' : `, AUC ${m.auc.toFixed(3)}`}${m.ordinal?.qwk == null ? '' : `, QWK ${m.ordinal.qwk.toFixed(3)}`} on ${m.examples} ${set} images; recall per label: ${m.perClass.map((c, i) => `${card.labels[i]} ${c.recall === null ? '-' : pct(c.recall)}`).join(', ')}`
      : `not measured (the task has no ${set} set)`
  const prior = card.prior
    ? `the federation's label mix (${card.prior.map((p, i) => `${card.labels[i]} ${pct(p)}`).join(', ')}), folded into the head`
    : 'none (plain softmax)'
  const secure = card.privacy.secureAggregation
  const dp = card.privacy.differentialPrivacy
  const differential =
    dp === 'none'
      ? 'none'
      : `per ${dp.unit}, ε = ${dp.epsilon.toFixed(2)} at δ = ${dp.delta} spent up to this round (the run's target ε = ${dp.target}; C = ${dp.clipNorm}, z = ${Number(dp.noiseMultiplier.toPrecision(4))})`
  const privacy = secure
    ? `secure aggregation (${secure.protocol}, k = ${secure.neighbours}, t = ${secure.threshold}, updates clipped to L2 norm ${secure.clipNorm}, at most ${secure.maxExamples} examples per participant, fixed point scale ${secure.fixedPoint.scale ?? '?'}); differential privacy: ${differential}`
    : `plaintext-debug aggregation (the coordinator saw each update); differential privacy: ${differential}`
  return `# ${card.task.name}: run ${card.run.id}, round ${card.run.round}

${card.task.description ? `${card.task.description}\n\n` : ''}A TensorFlow.js layers model: the frozen backbone ${card.backbone.name} and the head the federation
trained, as one model (image in, class probabilities out). Made by fedtune ${card.fedtuneVersion} at ${card.createdAt}.

- Labels, in output order: ${card.labels.join(', ')}
- Input: [n, ${card.preprocessing.inputSize}, ${card.preprocessing.inputSize}, 3], ${card.preprocessing.color};
  resized ${card.preprocessing.resize}; scaled ${card.preprocessing.scaling.formula} (to [-1, 1]).
- Trained: ${card.run.roundsCompleted} aggregated round(s) of ${card.run.roundsPlanned} planned; round ${card.run.round} summed ${card.training.examples} examples from ${card.training.contributors} contributor(s).
- Chosen: round ${card.run.round}, ${card.chosen.why}.
- Validation: ${measured(card.validation, 'validation')}.
- Test: ${measured(card.test, 'test')}.
- Predicts with prior: ${prior}.
${
  card.head.inputCentre
    ? `- Inputs: the head was trained on embeddings centred on the validation set's mean embedding (norm ${card.head.inputCentre.norm.toFixed(2)}); the centre is folded into its first layer's bias, so the model takes images as above, with no extra step.
`
    : ''
}${
  cardViews(card).length > 1
    ? `- Views: the head reads the mean of the backbone's embeddings of ${cardViews(card).join(', ')} of each image; the model computes every view itself, so it takes images as above, with no extra step.
`
    : ''
}- Privacy: ${privacy}.
- Backbone: ${card.backbone.source} (sha256 ${card.backbone.sha256}).

model-card.json holds all of it. To use it:

    fedtune predict --model <this folder> <images or folders>

or in JavaScript: \`tf.loadLayersModel\` on model.json, then \`model.predict\` on images prepared as above.
`
}
