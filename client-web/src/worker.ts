import { dpSgdSteps, type LocalData, type LocalResult, localRound, secureContribution } from '@fedtune/model'
import {
  budgetDecision,
  cryptoRandom,
  encodeRoundContribution,
  naclCrypto,
  parseRoundStart,
  type RandomSource,
  type RoundStart,
  roundPrivacyEvent,
  SecureRoundDriver,
  type SecureRoundReport,
  type SpentRound,
  type TaskInfo,
} from '@fedtune/protocol'
import { useWasm } from './wasm-backend.ts'
import type { FromWorker, ToWorker, VolunteerStage } from './worker-messages.ts'

/**
 * The volunteer's training and secure aggregation, off the page's thread: local training of the head
 * on the embeddings, and this participant's side of every SecAgg+ round (tweetnacl and WebCrypto,
 * the same protocol code the Node client runs natively). The page only relays socket messages; the
 * unmasked update never leaves this worker.
 */
const scope = self as unknown as {
  postMessage(message: FromWorker): void
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null
}

type Joined = {
  readonly task: TaskInfo
  readonly data: LocalData
  readonly secure: SecureRoundDriver
  /** Under privacy, the rounds this browser released (the page keeps them in IndexedDB). */
  readonly spent: SpentRound[]
}

let joined: Joined | undefined
/** The training backend, set once before the first round (WebAssembly; see wasm-backend.ts). */
let backend: Promise<string> | undefined
/** The page's answer to each `spend`, by round: the round is kept (or could not be). */
const keeping = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()

function post(message: FromWorker): void {
  scope.postMessage(message)
}

function stage(round: number, s: VolunteerStage, detail?: string): void {
  post(detail === undefined ? { type: 'stage', round, stage: s } : { type: 'stage', round, stage: s, detail })
}

/** The page's name for each of this volunteer's answers once it went out. */
const ANSWERED: Readonly<Record<string, VolunteerStage>> = {
  advertise: 'advertised',
  'share-keys': 'shared-keys',
  'masked-input': 'masked-input',
  unmask: 'unmasked',
}

function reportSecure(report: SecureRoundReport): void {
  if (report.type === 'answered') {
    const answered = ANSWERED[report.stage]
    if (answered !== undefined) stage(report.round, answered)
  } else if (report.type === 'declined' || report.type === 'refused')
    // Refusing is falling silent for the round: the coordinator treats it as a dropout.
    stage(report.round, 'refused', report.message)
  else if (report.type === 'complained')
    stage(report.round, 'refused', `sent a complaint about the ${report.stage ?? 'secagg'} message`)
  else post({ type: 'notice', message: report.message })
}

scope.onmessage = (event) => {
  const m = event.data
  try {
    if (m.type === 'init') {
      const secure = new SecureRoundDriver({
        crypto: naclCrypto,
        identitySeed: m.identitySeed,
        emit: (round, message) => post({ type: 'emit-secagg', round, message }),
        report: reportSecure,
      })
      joined = { task: m.task, data: { train: m.train, val: m.val }, secure, spent: [...m.spent] }
      backend = useWasm()
      backend.catch((error: Error) => post({ type: 'error', message: `training backend: ${error.message}` }))
    } else if (m.type === 'round') onRound(m.raw)
    else if (m.type === 'kept') {
      const waiting = keeping.get(m.round)
      keeping.delete(m.round)
      if (m.error === null) waiting?.resolve()
      else waiting?.reject(new Error(`the privacy record could not be kept (${m.error}): nothing was sent`))
    }
    // Zeroes the round's secrets now rather than at garbage collection.
    else if (m.type === 'end-round') joined?.secure.end(m.round)
    else if (joined === undefined)
      throw new Error('a secure-aggregation message before the worker had its data')
    else void joined.secure.relay(m.raw)
  } catch (error) {
    post({ type: 'error', message: (error as Error).message })
  }
}

function onRound(raw: unknown): void {
  if (joined === undefined) throw new Error('a round arrived before the worker had its data')
  const { task, data, secure } = joined
  const round = parseRoundStart(raw, task.paramCount, task.head.labels.length)
  // Under privacy: the round within this browser's budget, noise from its cryptographic source
  // (cryptoRandom throws without one: the round fails here, untrained), or no round.
  let random: RandomSource | undefined
  if (task.privacy !== null && round.secagg !== null) {
    const decision = budgetDecision(
      task.privacy,
      joined.spent.map((s) => s.event),
      roundEvent(task, round, round.secagg.fixedPoint.scale, null),
      `round ${round.round}`,
    )
    if (!decision.train) {
      post({ type: 'budget-spent', round: round.round, reason: decision.reason })
      return
    }
    random = cryptoRandom()
  }
  // Set once the round is taken, before any relay can ask for the masked input.
  let result: Promise<LocalResult> | undefined
  // Advertises first, so the key exchange overlaps training; refuses a round without secure
  // aggregation: a volunteer never sends plaintext.
  const taking = secure.start(task, round, async (fixedPoint) => {
    const r = await (result as Promise<LocalResult>)
    try {
      if (task.privacy !== null) {
        const event = roundEvent(task, round, fixedPoint.scale, r.privateSteps)
        const spent: SpentRound = {
          task: task.taskId,
          round: round.round,
          time: new Date().toISOString(),
          event,
        }
        await kept(spent)
        ;(joined as Joined).spent.push(spent)
      }
      return encodeRoundContribution(secureContribution(r), task.privacy, fixedPoint, () =>
        random === undefined ? cryptoRandom() : random,
      )
    } catch (error) {
      post({ type: 'error', message: `round ${round.round}: ${(error as Error).message}` })
      throw error
    }
  })
  if (!taking) return
  result = new Promise<LocalResult>((resolve, reject) => {
    // After the advertisement is out, so training does not delay it.
    setTimeout(async () => {
      try {
        await backend
        stage(round.round, 'training')
        const r = localRound(task.head, task.backbone.embeddingDim, data, round, {
          ordinal: task.ordinal,
          privacy: task.privacy,
          ...(random === undefined ? {} : { random: () => random as RandomSource }),
          onProgress: (p) => {
            if (p.batch === p.batches)
              post({ type: 'progress', round: round.round, epoch: p.epoch, epochs: p.epochs, loss: p.loss })
          },
        })
        post({
          type: 'trained',
          round: round.round,
          examples: r.examples,
          trainLoss: r.metrics.trainLoss,
          received: r.received,
        })
        resolve(r)
      } catch (error) {
        post({ type: 'error', message: `round ${round.round}: training failed: ${(error as Error).message}` })
        reject(error)
      }
    }, 0)
  })
  // Reported above; the driver awaits it only when the masked input is due, if the round gets there.
  result.catch(() => {})
}

/** The round as this browser's accountant sees it: its DP-SGD steps (unit "example") or its scale. */
function roundEvent(task: TaskInfo, round: RoundStart, scale: number, steps: number | null) {
  const privacy = task.privacy
  if (privacy === null) throw new Error('roundEvent: the task has no privacy')
  const planned = privacy.unit === 'example' ? dpSgdSteps(round.training.epochs, privacy.samplingRate) : 0
  return roundPrivacyEvent(privacy, { steps: steps ?? planned, scale, dimension: task.paramCount })
}

/** Asks the page to keep `spent` in its store before the masked input goes out; resolves once it has. */
function kept(spent: SpentRound): Promise<void> {
  return new Promise((resolve, reject) => {
    keeping.set(spent.round, { resolve, reject })
    post({ type: 'spend', spent })
  })
}
