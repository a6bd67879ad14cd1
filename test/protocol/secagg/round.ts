import nacl from 'tweetnacl'
import { ProtocolError } from '../../../protocol/src/errors.ts'
import {
  roundContext,
  type SecaggContext,
  type SecaggCrypto,
  type SecaggOutcome,
  SecaggParticipant,
  SecaggServer,
  type SecaggSetup,
  type Stage,
} from '../../../protocol/src/secagg/index.ts'

/**
 * An in-memory SecAgg+ round for the tests: one coordinator, n participants, every message passed
 * through `overTheWire` (as socket.io would deliver it to Node) and recorded as the coordinator
 * received it. Participants fall silent at a chosen stage to simulate dropouts.
 */

/** A deterministic byte stream (SHA-512 in counter mode), so a seeded round replays exactly. */
export function seededRandom(seed: string): (n: number) => Uint8Array {
  const key = nacl.hash(new Uint8Array([...seed].map((c) => c.charCodeAt(0) & 0xff)))
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  return (n) => {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      if (pool.length === 0) {
        const block = new Uint8Array(key.length + 4)
        block.set(key)
        new DataView(block.buffer).setUint32(key.length, counter++)
        pool = nacl.hash(block)
      }
      const take = Math.min(pool.length, n - filled)
      out.set(pool.subarray(0, take), filled)
      pool = pool.subarray(take)
      filled += take
    }
    return out
  }
}

/** `crypto` with its randomness replaced by a seeded stream: same seed, same round, byte for byte. */
export function seeded(crypto: SecaggCrypto, seed: string): SecaggCrypto {
  return { ...crypto, name: `${crypto.name} (seeded)`, randomBytes: seededRandom(seed) }
}

/** What socket.io does to a message bound for Node: a deep copy, every byte field a Buffer. */
export function overTheWire<T>(message: T): unknown {
  const copy = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v)
    if (Array.isArray(v)) return v.map(copy)
    if (typeof v === 'object' && v !== null)
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]))
    return v
  }
  return copy(message)
}

export type Setup = {
  readonly setup: SecaggSetup
  readonly context: SecaggContext
  readonly seeds: readonly Uint8Array[]
  /** Participant ids in the order of `seeds`. */
  readonly ids: readonly string[]
}

export function setupRound(options: {
  crypto: SecaggCrypto
  n: number
  dim: number
  neighbourCount: number
  threshold: number
  seed?: string
  round?: number
}): Setup {
  const random = seededRandom(options.seed ?? 'setup')
  const seeds = Array.from({ length: options.n }, () => random(32))
  const setup: SecaggSetup = {
    taskId: 'chest-xray',
    round: options.round ?? 7,
    identityKeys: seeds.map((s) => options.crypto.ed25519PublicKey(s)),
    neighbourCount: options.neighbourCount,
    neighbourSeed: random(32),
    threshold: options.threshold,
    dim: options.dim,
  }
  const context = roundContext(setup)
  const byKey = new Map([...context.identityKeys].map(([id, key]) => [key, id]))
  return { setup, context, seeds, ids: setup.identityKeys.map((k) => byKey.get(k) as string) }
}

/** Inputs a test can recognise: small, structured values, far from uniform. */
export function structuredInputs(n: number, dim: number, seed = 'inputs'): Uint32Array[] {
  const random = seededRandom(seed)
  return Array.from({ length: n }, () => {
    const bytes = random(dim)
    return Uint32Array.from(bytes, (b, j) => (j % 3 === 0 ? 2 ** 32 - b : b % 17))
  })
}

export function plainSum(inputs: readonly Uint32Array[], dim: number): Uint32Array {
  const sum = new Uint32Array(dim)
  for (const x of inputs) for (let j = 0; j < dim; j++) sum[j] = (sum[j] as number) + (x[j] as number)
  return sum
}

/** One message as the coordinator received it (a complaint comes in the stage it replaces). */
export type Received = { readonly from: string; readonly stage: Stage; readonly message: unknown }

export type RoundRun = {
  readonly outcome: SecaggOutcome
  /** The stage at which the round failed, if it did. */
  readonly failedAt: Stage | null
  readonly received: readonly Received[]
  /** Messages refused because the server had named their sender a culprit. */
  readonly excluded: readonly Received[]
  /** With `keepRefused`: every other message the server refused, with the refusal's code and reason. */
  readonly refused: readonly (Received & { readonly code: string; readonly reason: string })[]
  readonly participants: ReadonlyMap<string, SecaggParticipant>
  readonly server: SecaggServer
}

/**
 * Runs a round. `silentFrom` maps a participant id to the first stage at which it no longer sends
 * (e.g. 'share-keys': it advertised, then dropped). `alter` may change a message on its way out
 * (a dishonest participant). A participant that complains sends the complaint in place of its
 * stage message and nothing after. A refusal is not caught (in these rounds it is a bug) unless
 * `keepRefused` asks for it in `refused`: its sender then counts as silent from that stage on.
 */
export async function runRound(options: {
  crypto: SecaggCrypto
  serverCrypto?: SecaggCrypto
  participantCrypto?: (index: number) => SecaggCrypto
  setup: Setup
  inputs: readonly Uint32Array[]
  silentFrom?: ReadonlyMap<string, Stage>
  alter?: (from: string, stage: Stage, message: unknown) => unknown
  keepRefused?: boolean
}): Promise<RoundRun> {
  const { setup, inputs } = options
  const order: readonly Stage[] = ['advertise', 'share-keys', 'masked-input', 'unmask']
  const speaks = (id: string, stage: Stage) => {
    const from = options.silentFrom?.get(id)
    return from === undefined || order.indexOf(stage) < order.indexOf(from)
  }
  const server = new SecaggServer({ crypto: options.serverCrypto ?? options.crypto, context: setup.context })
  const participants = new Map(
    setup.seeds.map((seed, i) => {
      const p = new SecaggParticipant({
        crypto: options.participantCrypto?.(i) ?? options.crypto,
        identitySeed: seed,
        context: setup.context,
      })
      return [p.id, p] as const
    }),
  )
  const input = new Map(setup.ids.map((id, i) => [id, inputs[i] as Uint32Array]))
  const received: Received[] = []
  const excluded: Received[] = []
  const refused: (Received & { code: string; reason: string })[] = []
  const deliver = (from: string, stage: Stage, message: unknown) => {
    const wire = overTheWire(options.alter ? options.alter(from, stage, message) : message)
    received.push({ from, stage, message: wire })
    try {
      server.receive(from, wire)
    } catch (error) {
      // A participant named the culprit by a complaint is refused for the rest of the round.
      if (!(error instanceof ProtocolError)) throw error
      if (error.code === 'excluded') excluded.push({ from, stage, message: wire })
      else if (options.keepRefused)
        refused.push({ from, stage, message: wire, code: error.code, reason: error.message })
      else throw error
    }
  }
  const done = (outcome: SecaggOutcome, failedAt: Stage | null): RoundRun => ({
    outcome,
    failedAt,
    received,
    excluded,
    refused,
    participants,
    server,
  })

  for (const [id, p] of participants) if (speaks(id, 'advertise')) deliver(id, 'advertise', p.advertise())
  const adverts = server.closeAdvertise()
  if (!adverts.ok) return done(adverts, 'advertise')

  for (const [id, message] of adverts.messages)
    if (speaks(id, 'share-keys'))
      deliver(
        id,
        'share-keys',
        await (participants.get(id) as SecaggParticipant).shareKeys(overTheWire(message)),
      )
  const shares = server.closeShareKeys()
  if (!shares.ok) return done(shares, 'share-keys')

  for (const [id, message] of shares.messages)
    if (speaks(id, 'masked-input')) {
      const p = participants.get(id) as SecaggParticipant
      deliver(id, 'masked-input', await p.maskedInput(overTheWire(message), input.get(id) as Uint32Array))
    }
  const requests = server.closeMaskedInput()
  if (!requests.ok) return done(requests, 'masked-input')

  for (const [id, message] of requests.messages)
    if (speaks(id, 'unmask'))
      deliver(id, 'unmask', await (participants.get(id) as SecaggParticipant).unmask(overTheWire(message)))
  const outcome = await server.finish()
  return done(outcome, outcome.ok ? null : 'unmask')
}
