import {
  addInto,
  encodeSecaggSetup,
  roundContext,
  type SecaggContext,
  type SecaggCrypto,
  SecaggParticipant,
  SecaggServer,
  type SecaggSetup,
  type Stage,
  weightedSum,
} from '@fedtune/protocol'
import { socketIoTransfer } from './socket-io-wire.ts'

/**
 * One SecAgg+ round in memory, instrumented: the coordinator and n participants in one process, every
 * message through socket.io's encoder and decoder (bytes counted there), each side's calls timed
 * apart. The driving is test/protocol/secagg/round.ts's, with the clock around every call.
 */

export type RoundSpec = {
  readonly crypto: SecaggCrypto
  /** The participants' backend, when not `crypto` (the coordinator's): naclCrypto for a browser's. */
  readonly participantCrypto?: SecaggCrypto
  readonly n: number
  readonly dim: number
  readonly neighbourCount: number
  readonly threshold: number
  /** Who drops after sharing keys and before the masked input — the costly dropout (module comment). */
  readonly dropped: ReadonlySet<number>
}

export type RoundSetup = {
  readonly setup: SecaggSetup
  readonly context: SecaggContext
  readonly seeds: readonly Uint8Array[]
  /** Participant ids in the order of `seeds`. */
  readonly ids: readonly string[]
}

/** A roster of n fresh identities and the round's context (what every participant would build). */
export function setupRound(spec: Omit<RoundSpec, 'dropped'>, round = 1): RoundSetup {
  const { crypto } = spec
  const seeds = Array.from({ length: spec.n }, () => crypto.randomBytes(32))
  const setup: SecaggSetup = {
    taskId: 'bench',
    round,
    identityKeys: seeds.map((s) => crypto.ed25519PublicKey(s)),
    neighbourCount: spec.neighbourCount,
    neighbourSeed: crypto.randomBytes(32),
    threshold: spec.threshold,
    dim: spec.dim,
  }
  const context = roundContext(setup)
  const byKey = new Map([...context.identityKeys].map(([id, key]) => [key, id]))
  return { setup, context, seeds, ids: setup.identityKeys.map((k) => byKey.get(k) as string) }
}

/**
 * Fixed-point-like inputs: words of a signed 2^20 range (what encodeWeighted produces for a clipped
 * update), from a xorshift seeded by the participant's index — the values do not change the cost.
 */
export function benchInput(index: number, dim: number): Uint32Array {
  const out = new Uint32Array(dim)
  let x = (index + 1) * 0x9e3779b9
  for (let j = 0; j < dim; j++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[j] = (x >> 11) | 0
  }
  return out
}

/** A float update with the scale of `benchInput`'s words (2^-20 per unit), for the plaintext FedAvg baseline. */
export function benchUpdate(input: Uint32Array): Float32Array {
  const out = new Float32Array(input.length)
  for (let j = 0; j < input.length; j++) out[j] = ((input[j] as number) | 0) / 2 ** 20
  return out
}

export type Bytes = { up: number; down: number }

export type RoundMeasurement = {
  readonly ok: boolean
  readonly reason: string
  /** Whether the unmasked sum equals the plaintext sum of the survivors' inputs. */
  readonly correct: boolean
  readonly survivors: number
  /** The coordinator's receive and close calls of the four stages. */
  readonly routingMs: number
  /** `finish()`: adding the masked inputs' remainder and removing the masks. */
  readonly unmaskMs: number
  /** The same survivors' inputs summed in the clear, measured right after `finish()`. */
  readonly plaintextMs: number
  /**
   * The coordinator's plaintext-debug aggregation of the survivors' float updates (fedavg.ts
   * `weightedSum`, float64), measured right after: what an insecure fedtune round does instead.
   */
  readonly fedAvgMs: number
  /** advertise + shareKeys + maskedInput + unmask, per survivor. */
  readonly participantMs: readonly number[]
  /** Per survivor, the four stages' messages it sent and received. */
  readonly participantBytes: readonly Bytes[]
  /** The roster announcement (SecaggSetup) each participant downloads before stage 1. */
  readonly setupBytes: number
  readonly coordinatorIn: number
  readonly coordinatorOut: number
}

/** Times one round over `inputs` (one per participant, in the order of `round.seeds`). */
export async function measureRound(
  spec: RoundSpec,
  round: RoundSetup,
  inputs: readonly Uint32Array[],
  updates: readonly Float32Array[],
): Promise<RoundMeasurement> {
  const { crypto } = spec
  const server = new SecaggServer({ crypto, context: round.context })
  const participants = round.seeds.map(
    (seed) =>
      new SecaggParticipant({
        crypto: spec.participantCrypto ?? crypto,
        identitySeed: seed,
        context: round.context,
      }),
  )
  const indexOf = new Map(round.ids.map((id, i) => [id, i]))
  const participantMs = new Float64Array(spec.n)
  const bytes = round.ids.map(() => ({ up: 0, down: 0 }))
  let routingMs = 0
  let coordinatorIn = 0
  let coordinatorOut = 0

  const timed = <T>(into: 'routing' | number, run: () => T): T => {
    const started = performance.now()
    const result = run()
    const ms = performance.now() - started
    if (into === 'routing') routingMs += ms
    else participantMs[into] = (participantMs[into] as number) + ms
    return result
  }
  const timedAsync = async <T>(index: number, run: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    const result = await run()
    participantMs[index] = (participantMs[index] as number) + performance.now() - started
    return result
  }
  const upload = (index: number, stage: Stage, message: unknown) => {
    const wire = socketIoTransfer(`secagg:${stage}`, message)
    ;(bytes[index] as Bytes).up += wire.bytes
    coordinatorIn += wire.bytes
    timed('routing', () => server.receive(round.ids[index] as string, wire.delivered))
  }
  const download = (id: string, stage: Stage, message: unknown): { index: number; message: unknown } => {
    const index = indexOf.get(id) as number
    const wire = socketIoTransfer(`secagg:${stage}`, message)
    ;(bytes[index] as Bytes).down += wire.bytes
    coordinatorOut += wire.bytes
    return { index, message: wire.delivered }
  }
  const setupBytes = socketIoTransfer('secagg:setup', encodeSecaggSetup(round.setup)).bytes
  const failed = (reason: string): RoundMeasurement => ({
    ok: false,
    reason,
    correct: false,
    survivors: 0,
    routingMs,
    unmaskMs: 0,
    plaintextMs: 0,
    fedAvgMs: 0,
    participantMs: [],
    participantBytes: [],
    setupBytes,
    coordinatorIn,
    coordinatorOut,
  })

  participants.forEach((p, i) => {
    upload(
      i,
      'advertise',
      timed(i, () => p.advertise()),
    )
  })
  const adverts = timed('routing', () => server.closeAdvertise())
  if (!adverts.ok) return failed(adverts.reason)

  for (const [id, outbound] of adverts.messages) {
    const { index, message } = download(id, 'advertise', outbound)
    const p = participants[index] as SecaggParticipant
    upload(index, 'share-keys', await timedAsync(index, () => p.shareKeys(message)))
  }
  const shares = timed('routing', () => server.closeShareKeys())
  if (!shares.ok) return failed(shares.reason)

  for (const [id, outbound] of shares.messages) {
    const { index, message } = download(id, 'share-keys', outbound)
    if (spec.dropped.has(index)) continue
    const p = participants[index] as SecaggParticipant
    const input = inputs[index] as Uint32Array
    upload(index, 'masked-input', await timedAsync(index, () => p.maskedInput(message, input)))
  }
  const requests = timed('routing', () => server.closeMaskedInput())
  if (!requests.ok) return failed(requests.reason)

  for (const [id, outbound] of requests.messages) {
    const { index, message } = download(id, 'unmask', outbound)
    const p = participants[index] as SecaggParticipant
    upload(index, 'unmask', await timedAsync(index, () => p.unmask(message)))
  }
  const started = performance.now()
  const outcome = await server.finish()
  const unmaskMs = performance.now() - started
  if (!outcome.ok) return failed(outcome.reason)

  const survivors = outcome.survivors.map((id) => indexOf.get(id) as number)
  const { sum, ms: plaintextMs } = plaintextSum(
    survivors.map((i) => inputs[i] as Uint32Array),
    spec.dim,
  )
  const fedAvgStarted = performance.now()
  weightedSum(
    spec.dim,
    survivors.map((i) => ({ delta: updates[i] as Float32Array, examples: 100 + i })),
  )
  const fedAvgMs = performance.now() - fedAvgStarted
  return {
    ok: true,
    reason: '',
    correct: equalWords(sum, outcome.sum),
    survivors: survivors.length,
    routingMs,
    unmaskMs,
    plaintextMs,
    fedAvgMs,
    participantMs: survivors.map((i) => participantMs[i] as number),
    participantBytes: survivors.map((i) => bytes[i] as Bytes),
    setupBytes,
    coordinatorIn,
    coordinatorOut,
  }
}

/** The insecure baseline: the same vectors added mod 2^32 in the clear (the coordinator's own addInto). */
export function plaintextSum(inputs: readonly Uint32Array[], dim: number): { sum: Uint32Array; ms: number } {
  const started = performance.now()
  const sum = new Uint32Array(dim)
  for (const x of inputs) addInto(sum, x)
  return { sum, ms: performance.now() - started }
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
