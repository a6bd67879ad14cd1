import { describe } from './describe.ts'
import { ProtocolError, REFUSAL_CODES, type RefusalCode } from './errors.ts'
import { type EvaluationCounts, parseEvaluationCounts } from './evaluation-counts.ts'
import { bool, int, num, oneOf, optNum, record, str } from './fields.ts'
import { type HeadSpec, paramCount, parseHeadSpec } from './head-spec.ts'
import { type ImageView, parseImageViews } from './image-views.ts'
import { type PrivacySettings, parsePrivacySettings } from './privacy/privacy-settings.ts'
import type { FixedPoint } from './secagg/fixed-point.ts'
import { parseSecaggSetup, type SecaggSetup, type WireSecaggSetup } from './secagg/messages.ts'
import { asBytes, decodeWeights } from './weights.ts'

/**
 * The wire between coordinator and participants (socket.io events). Plain readonly data, string
 * unions, no classes; every inbound message goes through exactly one parser below.
 */
/**
 * 5: participants evaluate the received global head; its counts travel in the secure vector (its
 * layout changed) and in a plaintext update's metrics; a round says the prior to predict with.
 * 6: TaskInfo states its privacy; a private task's secure vector is [Δ…, 1].
 * 7: a secure stage's lists (relayed advertisements and sealed shares, revealed shares) travel as
 * fixed records in one binary field (secagg/stage-records.ts); TaskInfo carries the input centre
 * (the mean embedding subtracted before the head), or null.
 * 8: TaskInfo's backbone lists the image views whose embeddings are averaged (`views`; image-views.ts):
 * a participant that embedded only the original would train on other inputs than the coordinator's.
 * 9: an unmask answer carries the correction for the sender's dropped neighbours' pair masks, for a
 * vector of at most 65,536 words (secagg/messages.ts, `correctsDropouts`).
 */
export const PROTOCOL_VERSION = 'fedtune/9'

export type ParticipantKind = 'hospital' | 'browser'

/**
 * coordinator → participant, first on every connection: the nonce a hello must sign
 * (hello-proof.ts), and the task it is for.
 */
export type Challenge = { readonly taskId: string; readonly nonce: Uint8Array }

/** Bytes of a challenge's nonce. */
export const NONCE_BYTES = 32

/** participant → coordinator, after the challenge; acknowledged with `HelloAck`. */
export type Hello = {
  readonly protocol: string
  /** A stable name the participant chooses; a reconnect with the same name resumes its place. */
  readonly participant: string
  readonly kind: ParticipantKind
  /** Software and backend, for the operator ("fedtune-client/0.1.0 wasm"). */
  readonly agent: string
  /**
   * The participant's long-term Ed25519 public key (32 bytes). The coordinator pins it to the name
   * on first sight (enrolment) and refuses the name with another key; every secure round's key
   * advertisement is signed with it, so the coordinator cannot substitute keys.
   */
  readonly identityKey: Uint8Array
  /**
   * Ed25519 signature by the identity key over this connection's challenge and the fields above
   * (`helloTranscript`, hello-proof.ts): proof that the sender holds the key it enrols with.
   */
  readonly proof: Uint8Array
  /**
   * An enrolment code (`fedtune participant invite`, or a volunteer's invite link), said on every
   * hello until the participant has joined once; absent otherwise. The coordinator ignores it for a
   * name already enrolled with this identity key. The proof covers it.
   */
  readonly invite?: string
}

/** What a hello's `invite` looks like: 16 to 128 characters of the URL-safe base64 alphabet. */
export const INVITE_CODE = /^[A-Za-z0-9_-]{16,128}$/

/** What a task's name looks like (the `auth.task` of a connection, `/join/<task>`). */
export const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * What a participant says in socket.io's handshake (`io(url, { auth })`), before any event: the task
 * it joins. Without `task` the coordinator takes its only open task.
 */
export type ConnectionAuth = { readonly task?: string }

/**
 * A refused message: its code (errors.ts) and the reason, for people. As read by a participant the
 * code may be 'unknown': one this participant does not know, from a newer coordinator.
 */
export type Refusal<Code extends string = RefusalCode> = {
  readonly ok: false
  readonly code: Code
  readonly reason: string
}
/** A refusal code as a participant reads it: one it knows, or 'unknown' (kept, quoted, in the reason). */
export type ReceivedRefusalCode = RefusalCode | 'unknown'
export type HelloAck<Code extends string = RefusalCode> =
  | { readonly ok: true; readonly task: TaskInfo }
  | Refusal<Code>
export type UpdateAck<Code extends string = RefusalCode> = { readonly ok: true } | Refusal<Code>

export type BackboneFile = { readonly name: string; readonly sha256: string; readonly bytes: number }

/** What a participant needs to know about the federation before its first round. */
export type TaskInfo = {
  readonly taskId: string
  readonly name: string
  /** What the task is, in the operator's words, for the volunteer page; "" when the file has none. */
  readonly description: string
  readonly rounds: number
  readonly backbone: {
    /** SHA-256 over the sha256sum-style listing of the files (see `backboneListing`). */
    readonly digest: string
    /** URL path on the coordinator under which the files are served ("/backbone/<digest>/"). */
    readonly path: string
    readonly files: readonly BackboneFile[]
    readonly inputSize: number
    readonly embeddingDim: number
    /**
     * The views of each image the backbone embeds, averaged into the head's input (the task file's
     * `backbone.views`; image-views.ts): ["original"] unless the task says otherwise.
     */
    readonly views: readonly ImageView[]
  }
  readonly head: HeadSpec
  /**
   * Whether the labels are grades in order (the task file's `head.ordinal`): a participant's own
   * evaluation of the head it receives then adds quadratic weighted kappa and the grade MAE.
   */
  readonly ordinal: boolean
  readonly paramCount: number
  /**
   * 'secure': updates are masked and only their sum is revealed (secagg/). 'plaintext-debug': the
   * task file asked for plaintext updates, for debugging only; a participant must opt in to it.
   */
  readonly aggregation: 'secure' | 'plaintext-debug'
  /**
   * Whether the task takes browser participants (volunteers on the coordinator's /join page), and
   * at most how many of them train in one round; the other places go to hospitals.
   */
  readonly browsers: BrowserParticipation
  /**
   * The task's differential privacy, which the participant enforces itself (its own accountant, its
   * own budget); null: the task gives no differential-privacy guarantee, and the participant says so.
   */
  readonly privacy: PrivacySettings | null
  /**
   * The embedding every participant subtracts before the head, in training and in evaluation (the
   * mean of the coordinator's validation embeddings, `head.inputCentre`: "validation"); one number per
   * embedding dimension. null: the head sees the backbone's embeddings as they are.
   */
  readonly inputCentre: readonly number[] | null
}

export type BrowserParticipation = { readonly enabled: boolean; readonly maxPerRound: number }

/** The longest task description, in UTF-16 code units. */
export const MAX_DESCRIPTION = 2000

export type TrainingSettings = {
  readonly epochs: number
  readonly batchSize: number
  readonly optimizer: 'adam' | 'sgd'
  readonly learningRate: number
  /** 'balanced' weights each class by n / (C · n_c) over the participant's own data. */
  readonly classWeights: 'balanced' | 'none'
  /**
   * The local loss. 'logit-adjusted' trains on softmax(z + log π) with π the participant's own label
   * mix (Menon et al., ICLR 2021), so sites with different label mixes agree on the classifier;
   * 'cross-entropy' is the plain loss, which lets strongly skewed sites drag the average to their majority.
   */
  readonly loss: 'cross-entropy' | 'logit-adjusted'
  /**
   * The label mix π the logit-adjusted loss uses: null for the participant's own, or the
   * federation's (one probability per class, from the label counts of the last aggregate), which
   * makes every participant's loss a term of one federation-wide loss, so their gradients add up.
   */
  readonly prior: readonly number[] | null
  /** Seeds dropout and shuffling so a round is reproducible. */
  readonly seed: number
}

/** coordinator → participant: train on this head for this round and reply with an `Update`. */
export type RoundStart = {
  readonly round: number
  readonly weights: Float32Array
  readonly training: TrainingSettings
  /** Milliseconds the participant has, from when it receives this message, to send its update. */
  readonly deadlineMs: number
  /** The secure round's roster and parameters; null in a plaintext-debug task. */
  readonly secagg: SecureRoundSetup | null
  /**
   * The label mix the global head predicts with (one share per class, added as log π to its output
   * bias, model/src/prediction-prior.ts): a participant evaluates the head it received with it.
   * null: plain softmax.
   */
  readonly predictionPrior: readonly number[] | null
}

/** What a participant needs to take part in one secure round. */
export type SecureRoundSetup = {
  readonly setup: SecaggSetup
  readonly fixedPoint: FixedPoint
}

/**
 * What a plaintext-debug update says besides its delta: the training loss, and the same counts a
 * secure round sums (the received global head on the participant's validation split).
 */
export type LocalMetrics = {
  readonly trainLoss: number
  readonly evaluation: EvaluationCounts
}

/** participant → coordinator: only the head update, its example count and summary metrics. */
export type Update = {
  readonly round: number
  /** Δ = w_local − w_global, float32. */
  readonly delta: Float32Array
  readonly examples: number
  /**
   * Training examples per class (sums to `examples`). Only their sum over the round's participants
   * is used: it is the federation's label mix, which `TrainingSettings.prior` hands back.
   */
  readonly labelCounts: readonly number[]
  readonly metrics: LocalMetrics
}

export type RoundResult = {
  readonly round: number
  readonly status: 'aggregated' | 'failed'
  readonly reason: string | null
  /**
   * How many participants' updates the round released: its secure sum's survivors or plaintext
   * contributors; a private task's failed round, the survivors its ε was accounted with (0: it
   * released nothing).
   */
  readonly participants: number
  readonly accuracy: number | null
  readonly auc: number | null
  /**
   * A private task's ε spent so far by the coordinator's account (public facts: the rounds that
   * released a sum and their survivors), at the task's δ; null without privacy. A participant's own
   * accountant is what binds it; this is the federation's figure beside it.
   */
  readonly epsilon: number | null
}

export type Finished = { readonly rounds: number; readonly completed: number }

/** socket.io event maps; binary fields travel as bytes (`encodeWeights`). */
export type ClientToServerEvents = {
  hello: (hello: Hello, ack: (reply: HelloAck) => void) => void
  update: (update: WireUpdate, ack: (reply: UpdateAck) => void) => void
  /** A secure-aggregation stage message (secagg/messages.ts), acknowledged like an update. */
  secagg: (message: unknown, ack: (reply: UpdateAck) => void) => void
}
export type ServerToClientEvents = {
  challenge: (challenge: Challenge) => void
  round: (round: WireRoundStart) => void
  /** The coordinator's relay for the next secure-aggregation stage. */
  secagg: (message: unknown) => void
  'round-result': (result: RoundResult) => void
  finished: (finished: Finished) => void
  /** Sent just before the coordinator closes a connection that broke a limit (docs/protocol.md, "Limits"). */
  refused: (refusal: Refusal) => void
}
export type WireRoundStart = Omit<RoundStart, 'weights' | 'secagg'> & {
  readonly weights: Uint8Array
  readonly secagg: { readonly setup: WireSecaggSetup; readonly fixedPoint: FixedPoint } | null
}
/** On the wire the counts are one list, in the layout of the secure vector (`flattenEvaluationCounts`). */
export type WireUpdate = Omit<Update, 'delta' | 'metrics'> & {
  readonly delta: Uint8Array
  readonly metrics: { readonly trainLoss: number; readonly evaluation: readonly number[] }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HEX64 = /^[0-9a-f]{64}$/
const MAX_EXAMPLES = 100_000_000

export function parseHello(value: unknown): Hello {
  const o = record(value, 'hello')
  const protocol = str(o, 'protocol', 'hello')
  if (protocol !== PROTOCOL_VERSION)
    throw new ProtocolError(
      'wrong-version',
      `hello.protocol: expected "${PROTOCOL_VERSION}", got "${protocol}"`,
    )
  return {
    protocol,
    participant: str(o, 'participant', 'hello', NAME),
    kind: oneOf(o, 'kind', 'hello', ['hospital', 'browser'] as const),
    agent: str(o, 'agent', 'hello'),
    identityKey: fixedBytes(o.identityKey, 'hello.identityKey', 32),
    proof: fixedBytes(o.proof, 'hello.proof', 64),
    ...(o.invite === undefined ? {} : { invite: inviteCode(o.invite, 'hello.invite') }),
  }
}

/**
 * An enrolment code as received; the error never quotes it (it is a secret while unused, and
 * refusals reach logs), only its length or type.
 */
export function inviteCode(value: unknown, what: string): string {
  if (typeof value !== 'string' || !INVITE_CODE.test(value))
    throw new ProtocolError(
      'malformed',
      `${what}: expected 16 to 128 letters, digits, "_" or "-", got ${typeof value === 'string' ? `a string of ${value.length} characters${/^[A-Za-z0-9_-]*$/.test(value) ? '' : ' with others among them'}` : describe(value)}`,
    )
  return value
}

/** socket.io's handshake `auth` as the coordinator receives it (an object; `{}` when the client set none). */
export function parseConnectionAuth(value: unknown): ConnectionAuth {
  if (value === undefined || value === null) return {}
  const o = record(value, 'auth')
  return o.task === undefined ? {} : { task: str(o, 'task', 'auth', TASK_NAME) }
}

/**
 * The refusal in a socket.io `connect_error` (a coordinator may refuse a connection in a middleware,
 * before its challenge, with the refusal as the error's `data`); undefined when it carries none,
 * and then the error's own message says what happened.
 */
export function connectRefusal(error: unknown): Refusal<ReceivedRefusalCode> | undefined {
  if (typeof error !== 'object' || error === null || !('data' in error)) return undefined
  const { data } = error as { data: unknown }
  if (typeof data !== 'object' || data === null || (data as { ok?: unknown }).ok !== false) return undefined
  return parseRefused(data)
}

/** A `refused` event (sent just before the coordinator closes a connection that broke a limit). */
export function parseRefused(value: unknown): Refusal<ReceivedRefusalCode> {
  const o = record(value, 'refused')
  if (o.ok !== false)
    throw new ProtocolError('malformed', `refused.ok: expected false, got ${describe(o.ok)}`)
  return parseRefusal(o, 'refused')
}

export function parseChallenge(value: unknown): Challenge {
  const o = record(value, 'challenge')
  return {
    taskId: str(o, 'taskId', 'challenge'),
    nonce: fixedBytes(o.nonce, 'challenge.nonce', NONCE_BYTES),
  }
}

export function parseUpdate(value: unknown, expectedParams: number, classes: number): Update {
  const o = record(value, 'update')
  const m = record(o.metrics, 'update.metrics')
  const examples = int(o, 'examples', 'update', 1, MAX_EXAMPLES)
  const labelCounts = intList(o, 'labelCounts', 'update', classes, 0, MAX_EXAMPLES)
  const total = labelCounts.reduce((a, b) => a + b, 0)
  if (total !== examples)
    throw new ProtocolError(
      'malformed',
      `update.labelCounts: expected counts that sum to update.examples (${examples}), got a sum of ${total}`,
    )
  return {
    round: int(o, 'round', 'update', 1, 1_000_000),
    delta: decodeWeights(o.delta, expectedParams, 'update.delta'),
    examples,
    labelCounts,
    metrics: {
      trainLoss: num(m, 'trainLoss', 'update.metrics', 0, 1e6),
      evaluation: evaluationList(m.evaluation, classes, 'update.metrics.evaluation'),
    },
  }
}

/** The counts of a plaintext update: a list, then the checks every pooled sum gets. */
function evaluationList(value: unknown, classes: number, what: string): EvaluationCounts {
  if (!Array.isArray(value))
    throw new ProtocolError('malformed', `${what}: expected a list of counts, got ${describe(value)}`)
  return parseEvaluationCounts(Array.from(value as unknown[]) as number[], classes, what)
}

export function parseRoundStart(value: unknown, expectedParams: number, classes: number): RoundStart {
  const o = record(value, 'round')
  const t = record(o.training, 'round.training')
  return {
    round: int(o, 'round', 'round', 1, 1_000_000),
    weights: decodeWeights(o.weights, expectedParams, 'round.weights'),
    training: parseTrainingSettings(t, 'round.training', classes),
    deadlineMs: int(o, 'deadlineMs', 'round', 1, 7 * 24 * 3600 * 1000),
    secagg: o.secagg === null ? null : parseSecureRoundSetup(o.secagg),
    predictionPrior: parsePredictionPrior(o.predictionPrior, classes),
  }
}

/**
 * null, or one share per class in (0, 1] (log π must be finite). They need not sum to 1: adding the
 * same constant to every logit leaves the softmax as it is.
 */
function parsePredictionPrior(value: unknown, classes: number): number[] | null {
  if (value === null) return null
  if (!Array.isArray(value) || value.length !== classes)
    throw new ProtocolError(
      'malformed',
      `round.predictionPrior: expected null or ${classes} class shares, got ${describe(value)}`,
    )
  return Array.from(value as unknown[], (p, i) => {
    if (typeof p !== 'number' || !Number.isFinite(p) || !(p > 0 && p <= 1))
      throw new ProtocolError(
        'malformed',
        `round.predictionPrior[${i}]: expected a share in (0, 1], got ${describe(p)}`,
      )
    return p
  })
}

export function parseTrainingSettings(
  o: Record<string, unknown>,
  what: string,
  classes: number,
): TrainingSettings {
  return {
    epochs: int(o, 'epochs', what, 1, 1000),
    batchSize: int(o, 'batchSize', what, 1, 65536),
    optimizer: oneOf(o, 'optimizer', what, ['adam', 'sgd'] as const),
    learningRate: num(o, 'learningRate', what, 1e-9, 10),
    classWeights: oneOf(o, 'classWeights', what, ['balanced', 'none'] as const),
    loss: oneOf(o, 'loss', what, ['cross-entropy', 'logit-adjusted'] as const),
    prior: o.prior === null ? null : parsePrior(o, what, classes),
    seed: int(o, 'seed', what, 0, 2 ** 32 - 1),
  }
}

export function parseHelloAck(value: unknown): HelloAck<ReceivedRefusalCode> {
  const o = record(value, 'hello ack')
  if (o.ok === false) return parseRefusal(o, 'hello ack')
  if (o.ok !== true) throw new ProtocolError('malformed', 'hello ack.ok: expected true or false')
  return { ok: true, task: parseTaskInfo(o.task) }
}

export function parseUpdateAck(value: unknown): UpdateAck<ReceivedRefusalCode> {
  const o = record(value, 'update ack')
  if (o.ok === false) return parseRefusal(o, 'update ack')
  if (o.ok !== true) throw new ProtocolError('malformed', 'update ack.ok: expected true or false')
  return { ok: true }
}

/**
 * A code outside REFUSAL_CODES reads as 'unknown', not as a malformed ack: a coordinator newer than
 * this participant may refuse with a code added since, and its reason still says why.
 */
function parseRefusal(o: Record<string, unknown>, what: string): Refusal<ReceivedRefusalCode> {
  const code = str(o, 'code', what)
  const reason = typeof o.reason === 'string' ? o.reason : ''
  return (REFUSAL_CODES as readonly string[]).includes(code)
    ? { ok: false, code: code as RefusalCode, reason }
    : {
        ok: false,
        code: 'unknown',
        reason: `${reason} (code ${describe(code)}, unknown to this participant)`,
      }
}

export function parseTaskInfo(value: unknown): TaskInfo {
  const o = record(value, 'task')
  const b = record(o.backbone, 'task.backbone')
  if (!Array.isArray(b.files) || b.files.length === 0 || b.files.length > 1000)
    throw new ProtocolError('malformed', 'task.backbone.files: expected a non-empty list of files')
  // Array.from, not map: map skips a hole (no JSON has one, but `unknown` may)
  const files = Array.from(b.files as unknown[], (f, i) => {
    const file = record(f, `task.backbone.files[${i}]`)
    const name = str(file, 'name', `task.backbone.files[${i}]`, /^[A-Za-z0-9._-][A-Za-z0-9._/-]*$/)
    if (name.split('/').includes('..'))
      throw new ProtocolError(
        'malformed',
        `task.backbone.files[${i}].name: expected a relative path, got "${name}"`,
      )
    return {
      name,
      sha256: str(file, 'sha256', `task.backbone.files[${i}]`, HEX64),
      bytes: int(file, 'bytes', `task.backbone.files[${i}]`, 0, 2 ** 40),
    }
  })
  const head = parseHeadSpec(o.head, 'task.head')
  const embeddingDim = int(b, 'embeddingDim', 'task.backbone', 1, 1 << 20)
  const count = int(o, 'paramCount', 'task', 1, 2 ** 31)
  if (count !== paramCount(head, embeddingDim))
    throw new ProtocolError(
      'invalid-spec',
      `task.paramCount: the head needs ${paramCount(head, embeddingDim)} parameters, the task says ${count}`,
    )
  const description = o.description
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION)
    throw new ProtocolError(
      'malformed',
      `task.description: expected a string of at most ${MAX_DESCRIPTION} characters, got ${describe(description)}`,
    )
  const w = record(o.browsers, 'task.browsers')
  return {
    taskId: str(o, 'taskId', 'task', NAME),
    name: str(o, 'name', 'task'),
    description,
    rounds: int(o, 'rounds', 'task', 1, 1_000_000),
    backbone: {
      digest: str(b, 'digest', 'task.backbone', HEX64),
      path: str(b, 'path', 'task.backbone', /^\/[A-Za-z0-9._/-]*\/$/),
      files,
      inputSize: int(b, 'inputSize', 'task.backbone', 8, 4096),
      embeddingDim,
      views: parseImageViews(b.views, 'task.backbone.views'),
    },
    head,
    ordinal: bool(o, 'ordinal', 'task'),
    paramCount: count,
    aggregation: oneOf(o, 'aggregation', 'task', ['secure', 'plaintext-debug'] as const),
    browsers: {
      enabled: bool(w, 'enabled', 'task.browsers'),
      maxPerRound: int(w, 'maxPerRound', 'task.browsers', 1, 100_000),
    },
    privacy: parsePrivacySettings(required(o, 'privacy', 'task'), 'task.privacy'),
    inputCentre: parseInputCentre(required(o, 'inputCentre', 'task'), embeddingDim),
  }
}

/** null, or exactly `dim` finite numbers (the embedding subtracted before the head). */
function parseInputCentre(value: unknown, dim: number): readonly number[] | null {
  if (value === null) return null
  if (!Array.isArray(value) || value.length !== dim)
    throw new ProtocolError(
      'malformed',
      `task.inputCentre: expected null or ${dim} numbers (the embedding's dimension), got ${Array.isArray(value) ? `${value.length} values` : describe(value)}`,
    )
  return Array.from(value as unknown[], (v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ProtocolError(
        'malformed',
        `task.inputCentre[${i}]: expected a finite number, got ${describe(v)}`,
      )
    return v
  })
}

/** A field that must be present, though it may be null. */
function required(o: Record<string, unknown>, key: string, what: string): unknown {
  if (!(key in o))
    throw new ProtocolError('malformed', `${what}.${key}: expected a value or null, got nothing`)
  return o[key]
}

function parseSecureRoundSetup(value: unknown): SecureRoundSetup {
  const o = record(value, 'round.secagg')
  const f = record(o.fixedPoint, 'round.secagg.fixedPoint')
  return {
    setup: parseSecaggSetup(o.setup),
    fixedPoint: {
      clipNorm: num(f, 'clipNorm', 'round.secagg.fixedPoint', 1e-9, 1e9),
      scale: num(f, 'scale', 'round.secagg.fixedPoint', 1e-9, 2 ** 31),
      maxExamples: int(f, 'maxExamples', 'round.secagg.fixedPoint', 1, MAX_EXAMPLES),
    },
  }
}

/** Exactly `length` bytes (socket.io delivers a Buffer in Node, an ArrayBuffer in browsers), copied. */
function fixedBytes(value: unknown, what: string, length: number): Uint8Array {
  const bytes = asBytes(value)
  if (!bytes || bytes.byteLength !== length)
    throw new ProtocolError('malformed', `${what}: expected ${length} bytes, got ${describe(value)}`)
  return Uint8Array.from(bytes)
}

export function parseRoundResult(value: unknown): RoundResult {
  const o = record(value, 'round-result')
  return {
    round: int(o, 'round', 'round-result', 1, 1_000_000),
    status: oneOf(o, 'status', 'round-result', ['aggregated', 'failed'] as const),
    reason: typeof o.reason === 'string' ? o.reason : null,
    participants: int(o, 'participants', 'round-result', 0, MAX_EXAMPLES),
    accuracy: optNum(o, 'accuracy', 'round-result', 0, 1),
    auc: optNum(o, 'auc', 'round-result', 0, 1),
    // absent from coordinators before fedtune/6's privacy: read as none
    epsilon: optNum(o, 'epsilon', 'round-result', 0, 1e6),
  }
}

export function parseFinished(value: unknown): Finished {
  const o = record(value, 'finished')
  return {
    rounds: int(o, 'rounds', 'finished', 0, 1_000_000),
    completed: int(o, 'completed', 'finished', 0, 1_000_000),
  }
}

function intList(
  o: Record<string, unknown>,
  key: string,
  what: string,
  length: number,
  min: number,
  max: number,
): number[] {
  const v = o[key]
  if (!Array.isArray(v) || v.length !== length)
    throw new ProtocolError(
      'malformed',
      `${what}.${key}: expected a list of ${length} integers, got ${describe(v)}`,
    )
  return Array.from(v, (_, i) =>
    int(v as unknown as Record<string, unknown>, String(i), `${what}.${key}`, min, max),
  )
}

/** A probability per class, each above 0 (log π must be finite), summing to 1 within float error. */
function parsePrior(o: Record<string, unknown>, what: string, classes: number): number[] {
  const v = o.prior
  if (!Array.isArray(v) || v.length !== classes)
    throw new ProtocolError(
      'malformed',
      `${what}.prior: expected null or ${classes} class probabilities, got ${describe(v)}`,
    )
  const prior = Array.from(v, (_, i) =>
    num(v as unknown as Record<string, unknown>, String(i), `${what}.prior`, 1e-12, 1),
  )
  const sum = prior.reduce((a, b) => a + b, 0)
  if (Math.abs(sum - 1) > 1e-6)
    throw new ProtocolError(
      'malformed',
      `${what}.prior: expected probabilities that sum to 1, got a sum of ${sum}`,
    )
  return prior
}

/** Bytes of an inbound binary field, for size checks before parsing. */
export function byteLengthOf(value: unknown): number {
  return asBytes(value)?.byteLength ?? 0
}
