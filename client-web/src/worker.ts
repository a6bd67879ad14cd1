import { type LocalData, type LocalResult, localRound, secureContribution } from '@fedtune/model'
import {
  encodeSecureContribution,
  type FixedPoint,
  naclCrypto,
  parseRoundStart,
  SecaggParticipant,
  secureRoundContext,
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

type Joined = { readonly task: TaskInfo; readonly seed: Uint8Array; readonly data: LocalData }
type SecureRound = {
  readonly round: number
  readonly party: SecaggParticipant
  readonly fixedPoint: FixedPoint
  readonly result: Promise<LocalResult>
}

let joined: Joined | undefined
/** The training backend, set once before the first round (WebAssembly; see wasm-backend.ts). */
let backend: Promise<string> | undefined
let secure: SecureRound | undefined

function post(message: FromWorker): void {
  scope.postMessage(message)
}

function stage(round: number, s: VolunteerStage, detail?: string): void {
  post(detail === undefined ? { type: 'stage', round, stage: s } : { type: 'stage', round, stage: s, detail })
}

scope.onmessage = (event) => {
  const m = event.data
  try {
    if (m.type === 'init') {
      joined = { task: m.task, seed: m.identitySeed, data: { train: m.train, val: m.val } }
      backend = useWasm()
      backend.catch((error: Error) => post({ type: 'error', message: `training backend: ${error.message}` }))
    } else if (m.type === 'round') onRound(m.raw)
    else if (m.type === 'end-round') {
      // Zero the round's secrets now rather than at garbage collection.
      if (secure !== undefined && (m.round === null || m.round === secure.round)) secure.party.abandon()
    } else void onSecagg(m.raw)
  } catch (error) {
    post({ type: 'error', message: (error as Error).message })
  }
}

function onRound(raw: unknown): void {
  if (joined === undefined) throw new Error('a round arrived before the worker had its data')
  const { task, seed, data } = joined
  const round = parseRoundStart(raw, task.paramCount, task.head.labels.length)
  // Refuses a round without secure aggregation: a volunteer never sends plaintext.
  const context = secureRoundContext(task, round)
  const fixedPoint = (round.secagg as NonNullable<typeof round.secagg>).fixedPoint
  const party = new SecaggParticipant({ crypto: naclCrypto, identitySeed: seed, context })
  // Advertise first: the key exchange overlaps training.
  post({ type: 'emit-secagg', round: round.round, message: party.advertise() })
  stage(round.round, 'advertised')
  const result = new Promise<LocalResult>((resolve, reject) => {
    // After the advertisement is out, so training does not delay it.
    setTimeout(async () => {
      try {
        await backend
        stage(round.round, 'training')
        const r = localRound(task.head, task.backbone.embeddingDim, data, round, (p) => {
          if (p.batch === p.batches)
            post({ type: 'progress', round: round.round, epoch: p.epoch, epochs: p.epochs, loss: p.loss })
        })
        post({ type: 'trained', round: round.round, examples: r.examples, metrics: r.metrics })
        resolve(r)
      } catch (error) {
        post({ type: 'error', message: `round ${round.round}: training failed: ${(error as Error).message}` })
        reject(error)
      }
    }, 0)
  })
  result.catch(() => {})
  secure?.party.abandon()
  secure = { round: round.round, party, fixedPoint, result }
}

async function onSecagg(raw: unknown): Promise<void> {
  const current = secure
  if (current === undefined) throw new Error('a secure-aggregation message outside a round')
  const kind = typeof raw === 'object' && raw !== null ? (raw as { stage?: unknown }).stage : undefined
  // A complaint goes out like any message; the party has given up the round (complaint.ts).
  const emit = (message: { readonly stage: string }, next: VolunteerStage) => {
    post({ type: 'emit-secagg', round: current.round, message })
    if (message.stage === 'complaint') stage(current.round, 'refused', 'complained about a neighbour')
    else stage(current.round, next)
  }
  try {
    if (kind === 'advertise') emit(await current.party.shareKeys(raw), 'shared-keys')
    else if (kind === 'share-keys') {
      const r = await current.result
      const input = encodeSecureContribution(secureContribution(r), current.fixedPoint)
      emit(await current.party.maskedInput(raw, input), 'masked-input')
    } else if (kind === 'unmask') {
      post({ type: 'emit-secagg', round: current.round, message: current.party.unmask(raw) })
      stage(current.round, 'unmasked')
    } else throw new Error(`a secure-aggregation message for an unknown stage ${String(kind)}`)
  } catch (error) {
    // Refusing is falling silent for the round: the coordinator treats it as a dropout.
    current.party.abandon()
    stage(current.round, 'refused', (error as Error).message)
  }
}
